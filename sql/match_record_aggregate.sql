-- Record chosen (group, right item) pairs: every group member and the right item join one match.
CREATE OR REPLACE TEMP TABLE chosen_ids AS
SELECT c.l_id AS g_id, c.r_id, c.diff, g.members, g.members[1] AS anchor,
  'M' || substr(sha256(concat_ws('|', $rule_id, {group_key}, r.file_id, r.line_no)), 1, 16) AS match_id,
  r.{r_amount} AS r_amount, r.{r_currency} AS r_currency
FROM chosen AS c
JOIN grp AS g ON g.g_id = c.l_id
JOIN {right_table} AS r ON r.item_id = c.r_id;
CREATE OR REPLACE TEMP TABLE chosen_members AS
SELECT match_id, diff, anchor, unnest(members) AS item_id FROM chosen_ids;
INSERT INTO used SELECT $pairing, 'left', $left_table, item_id, match_id FROM chosen_members;
INSERT INTO used SELECT $pairing, 'right', $right_table, r_id, match_id FROM chosen_ids;
INSERT INTO match_rows
SELECT m.match_id, $rule_id, $pairing, 'left', $left_table, m.item_id,
  CASE WHEN {sum_exclude} THEN 0 ELSE l.{l_amount} END, l.{l_currency}, m.diff, $tolerance, m.anchor
FROM chosen_members AS m JOIN {left_table} AS l ON l.item_id = m.item_id;
INSERT INTO match_rows
SELECT match_id, $rule_id, $pairing, 'right', $right_table, r_id, r_amount, r_currency, diff, $tolerance, anchor
FROM chosen_ids;
