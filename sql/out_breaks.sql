-- Published breaks: one row per break, with its primary item, its nearest counterpart and a reason.
SELECT CAST($business_date AS DATE) AS business_date, b.break_id, b.break_type, b.channel, b.item_table,
  b.item_ref, i.file_id, i.line_no, b.amount_minor, b.currency,
  b.counter_table, c.item_ref AS counter_ref, c.file_id AS counter_file_id, c.line_no AS counter_line_no,
  b.counter_amount_minor, b.counter_currency,
  coalesce((SELECT count(*) FROM break_items bi WHERE bi.break_id = b.break_id), 0) AS item_count,
  b.closest_rule, b.reason
FROM break_list AS b
LEFT JOIN all_items AS i ON i.item_id = b.item_id
LEFT JOIN all_items AS c ON c.item_id = b.counter_item_id
ORDER BY b.break_type, b.break_id;
