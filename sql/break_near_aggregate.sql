-- For each unmatched group of an aggregate rule: the nearest right item, the failed condition, a break.
CREATE OR REPLACE TEMP TABLE gnear AS
SELECT * FROM (
  SELECT c.*, row_number() OVER (
      PARTITION BY c.g_id
      ORDER BY c.r_id IS NULL, c.r_used, NOT c.cur_ok, NOT c.amt_ok, NOT c.date_ok, c.abs_diff, c.r_file_id, c.r_line_no
    ) AS rn
  FROM (
    SELECT g.g_id, g.amount AS g_amount, g.currency AS g_currency, g.members, len(g.members) AS n_members,
      {group_key} AS g_key, {key_ref} AS g_ref, g.g_date,
      r.item_id AS r_id, r.file_id AS r_file_id, r.line_no AS r_line_no,
      r.{r_amount} AS r_amount, r.{r_currency} AS r_currency,
      coalesce(EXISTS (SELECT 1 FROM used u WHERE u.pairing = $pairing AND u.side = 'right' AND u.item_id = r.item_id),
               FALSE) AS r_used,
      coalesce(g.n_currencies = 1 AND g.currency = r.{r_currency}, FALSE) AS cur_ok,
      coalesce(abs(g.amount - r.{r_amount}) <= $tolerance, FALSE) AS amt_ok,
      coalesce({date_ok}, FALSE) AS date_ok,
      abs(g.amount - r.{r_amount}) AS abs_diff
    FROM grp AS g
    LEFT JOIN {right_table} AS r ON {key_join} AND {right_filter}
  ) AS c
) WHERE rn = 1;
CREATE OR REPLACE TEMP TABLE gnear_typed AS
SELECT n.*, li.channel AS g_channel, ri.item_label AS r_label,
  CASE WHEN n.r_id IS NULL THEN $v_left_unmatched WHEN n.r_used THEN $v_duplicate WHEN NOT n.cur_ok THEN $v_currency
       WHEN NOT n.amt_ok THEN $v_amount WHEN NOT n.date_ok THEN $v_date ELSE $v_ambiguous END AS break_type
FROM gnear AS n
JOIN {left_items} AS li ON li.item_id = n.members[1]
LEFT JOIN {right_items} AS ri ON ri.item_id = n.r_id;
CREATE OR REPLACE TEMP TABLE gnear_typed AS
SELECT *,
  'B' || substr(sha256(concat_ws('|', break_type, $left_table, 'group', g_key)), 1, 16) AS break_id,
  'group ' || g_ref || ' (' || n_members || ' ' || $left_table || ' items, total '
    || fmt_money(g_amount, g_currency) || ')'
  || CASE
       WHEN r_id IS NULL THEN ' has no ' || $right_table || ' item with the same key (rule ' || $rule_id || ')'
       WHEN r_used THEN ' points to ' || r_label || ', which is already matched'
       WHEN NOT cur_ok THEN ' is not in the currency of ' || r_label || ' (' || coalesce(r_currency, '?') || ')'
       WHEN NOT amt_ok THEN ' differs from ' || r_label || ' amount ' || fmt_money(r_amount, r_currency) || ' by '
            || fmt_money(g_amount - r_amount, g_currency) || ' (tolerance ' || fmt_money($tolerance, g_currency) || ')'
       WHEN NOT date_ok THEN ' is dated outside the window of ' || r_label
       ELSE ' matches ' || r_label || ' but another group matches equally well'
     END AS reason
FROM gnear_typed;
INSERT INTO break_list
SELECT break_id, break_type, $pairing, g_channel, $left_table, NULL, g_ref, g_amount, g_currency,
  CASE WHEN r_id IS NULL THEN NULL ELSE $right_table END, r_id, r_amount, r_currency, $rule_id, reason
FROM gnear_typed;
INSERT INTO break_items
SELECT t.break_id, $left_table, m.item_id
FROM gnear_typed AS t, unnest(t.members) AS m(item_id)
WHERE EXISTS (SELECT 1 FROM owner o WHERE o.item_table = $left_table AND o.item_id = m.item_id AND o.pairing = $pairing);
INSERT INTO break_items
SELECT c.break_id, $right_table, c.r_id FROM (
  SELECT t.*, row_number() OVER (PARTITION BY t.r_id ORDER BY t.abs_diff, t.g_key) AS claim
  FROM gnear_typed AS t WHERE t.r_id IS NOT NULL AND NOT t.r_used
) AS c
WHERE c.claim = 1
  AND EXISTS (SELECT 1 FROM owner o WHERE o.item_table = $right_table AND o.item_id = c.r_id AND o.pairing = $pairing)
  AND NOT EXISTS (SELECT 1 FROM break_items bi WHERE bi.item_table = $right_table AND bi.item_id = c.r_id);
INSERT INTO classified_members
SELECT $pairing, m.item_id FROM gnear_typed AS t, unnest(t.members) AS m(item_id);
