-- Candidate pairs of a one-to-one rule among items not yet used in this pairing.
-- Placeholders take generated fragments built from schema-checked identifiers only; values are bound.
CREATE OR REPLACE TEMP TABLE cand AS
SELECT
  l.item_id AS l_id,
  r.item_id AS r_id,
  l.{l_amount} - r.{r_amount} AS diff,
  abs(l.{l_amount} - r.{r_amount}) AS abs_diff,
  {date_gap} AS date_gap
FROM {left_table} AS l
JOIN {right_table} AS r ON {key_join}
WHERE {left_filter}
  AND {right_filter}
  AND l.{l_currency} = r.{r_currency}
  AND abs(l.{l_amount} - r.{r_amount}) <= $tolerance
  AND {date_ok}
  AND NOT EXISTS (SELECT 1 FROM used u WHERE u.pairing = $pairing AND u.side = 'left' AND u.item_id = l.item_id)
  AND NOT EXISTS (SELECT 1 FROM used u WHERE u.pairing = $pairing AND u.side = 'right' AND u.item_id = r.item_id)
  AND NOT EXISTS (SELECT 1 FROM excluded x WHERE x.pairing = $pairing AND x.item_id = r.item_id);
