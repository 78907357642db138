-- Duplicates set aside before matching become breaks that name the line they repeat.
CREATE OR REPLACE TEMP TABLE dup_breaks AS
SELECT 'B' || substr(sha256(concat_ws('|', $break_type, $right_table, d.file_id, d.line_no)), 1, 16) AS break_id,
  d.channel, x.item_id, d.item_ref, d.amount_minor, d.currency,
  x.original_item_id, o.amount_minor AS o_amount, o.currency AS o_currency,
  d.item_label || ' repeats ' || o.item_label || ' (same reference, type and amounts)' AS reason
FROM excluded AS x
JOIN {right_items} AS d ON d.item_id = x.item_id
JOIN {right_items} AS o ON o.item_id = x.original_item_id
WHERE x.pairing = $pairing;
INSERT INTO break_list
SELECT break_id, $break_type, $pairing, channel, $right_table, item_id, item_ref, amount_minor, currency,
  $right_table, original_item_id, o_amount, o_currency, NULL, reason
FROM dup_breaks;
INSERT INTO break_items
SELECT d.break_id, $right_table, d.item_id FROM dup_breaks AS d
WHERE EXISTS (SELECT 1 FROM owner o WHERE o.item_table = $right_table AND o.item_id = d.item_id AND o.pairing = $pairing);
