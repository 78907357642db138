-- Candidate (group, right item) pairs of an aggregate rule.
CREATE OR REPLACE TEMP TABLE cand AS
SELECT
  g.g_id AS l_id,
  r.item_id AS r_id,
  g.amount - r.{r_amount} AS diff,
  abs(g.amount - r.{r_amount}) AS abs_diff,
  {date_gap} AS date_gap
FROM grp AS g
JOIN {right_table} AS r ON {key_join}
WHERE g.n_currencies = 1
  AND {right_filter}
  AND g.currency = r.{r_currency}
  AND abs(g.amount - r.{r_amount}) <= $tolerance
  AND {date_ok}
  AND NOT EXISTS (SELECT 1 FROM used u WHERE u.pairing = $pairing AND u.side = 'right' AND u.item_id = r.item_id);
