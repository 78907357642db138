-- Items of a table that no pairing names.
CREATE OR REPLACE TEMP TABLE unowned AS
SELECT i.*, 'B' || substr(sha256(concat_ws('|', 'no_applicable_rule', $item_table, i.file_id, i.line_no)), 1, 16) AS break_id
FROM owner AS o JOIN {items} AS i ON i.item_id = o.item_id
WHERE o.item_table = $item_table AND o.pairing IS NULL;
INSERT INTO break_list
SELECT break_id, 'no_applicable_rule', NULL, channel, $item_table, item_id, item_ref, amount_minor, currency,
  NULL, NULL, NULL, NULL, NULL, item_label || ' is not named by any rule file'
FROM unowned;
INSERT INTO break_items SELECT break_id, $item_table, item_id FROM unowned;
