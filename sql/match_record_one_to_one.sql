-- Record the chosen one-to-one pairs as matches and mark both items used in the pairing.
CREATE OR REPLACE TEMP TABLE chosen_ids AS
SELECT c.l_id, c.r_id, c.diff,
  'M' || substr(sha256(concat_ws('|', $rule_id, l.file_id, l.line_no, r.file_id, r.line_no)), 1, 16) AS match_id,
  l.{l_amount} AS l_amount, l.{l_currency} AS l_currency, r.{r_amount} AS r_amount, r.{r_currency} AS r_currency
FROM chosen AS c
JOIN {left_table} AS l ON l.item_id = c.l_id
JOIN {right_table} AS r ON r.item_id = c.r_id;
INSERT INTO used SELECT $pairing, 'left', $left_table, l_id, match_id FROM chosen_ids;
INSERT INTO used SELECT $pairing, 'right', $right_table, r_id, match_id FROM chosen_ids;
INSERT INTO match_rows
SELECT match_id, $rule_id, $pairing, 'left', $left_table, l_id, l_amount, l_currency, diff, $tolerance, l_id FROM chosen_ids;
INSERT INTO match_rows
SELECT match_id, $rule_id, $pairing, 'right', $right_table, r_id, r_amount, r_currency, diff, $tolerance, l_id FROM chosen_ids;
