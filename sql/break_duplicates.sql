-- Items set aside as duplicates of one side ($side) before matching become breaks that name the item they repeat.
CREATE OR REPLACE TEMP TABLE dup_breaks AS
SELECT 'B' || substr(sha256(concat_ws('|', $break_type, $item_table, d.file_id, d.line_no)), 1, 16) AS break_id,
  d.channel, x.item_id, d.item_ref, d.amount_minor, d.currency,
  x.original_item_id, o.amount_minor AS o_amount, o.currency AS o_currency,
  CASE WHEN $side = 'right'
    THEN d.item_label || ' repeats ' || o.item_label || ' (same reference, type and amounts)'
    ELSE d.item_label || ' at line ' || d.line_no || ' repeats '
      || CASE WHEN d.file_id = o.file_id THEN 'line ' || o.line_no || ' of the same file'
              ELSE o.item_label || ' at line ' || o.line_no || ' of another file' END
      || ' (same ' || $columns || '); only the first is reconciled'
  END AS reason
FROM excluded AS x
JOIN {items} AS d ON d.item_id = x.item_id
JOIN {items} AS o ON o.item_id = x.original_item_id
WHERE x.pairing = $pairing AND x.side = $side{in_scope};
INSERT INTO break_list
SELECT break_id, $break_type, $pairing, channel, $item_table, item_id, item_ref, amount_minor, currency,
  $item_table, original_item_id, o_amount, o_currency, NULL, reason
FROM dup_breaks;
INSERT INTO break_items
SELECT d.break_id, $item_table, d.item_id FROM dup_breaks AS d
WHERE EXISTS (SELECT 1 FROM owner o WHERE o.item_table = $item_table AND o.item_id = d.item_id AND o.pairing = $pairing);
