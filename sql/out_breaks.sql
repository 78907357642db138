-- Published breaks: one row per break, with its primary item, its nearest counterpart and a reason.
-- break_file_names (file_id, file_name: the names the files were received under) names the files; a group
-- (item_id NULL: a payout batch) takes the names of its own items' files. The counterparty is the item's
-- channel, for an order the channel that processes it (psp_channel; a group of orders: its first member's).
-- counter_channel is for the reason (breaks.build.name_files), not published.
WITH group_files AS (
  SELECT bi.break_id, string_agg(DISTINCT f.file_name, ', ' ORDER BY f.file_name) AS file_name
  FROM break_items AS bi
  JOIN break_list AS b ON b.break_id = bi.break_id AND b.item_id IS NULL AND bi.item_table = b.item_table
  JOIN all_items AS gi ON gi.item_id = bi.item_id
  JOIN break_file_names AS f ON f.file_id = CAST(gi.file_id AS VARCHAR)
  GROUP BY bi.break_id
), group_orders AS (
  SELECT bi.break_id, min(CAST(o.psp_channel AS VARCHAR)) AS psp_channel
  FROM break_items AS bi
  JOIN break_list AS b ON b.break_id = bi.break_id AND b.item_id IS NULL AND b.item_table = 'orders'
  JOIN orders AS o ON bi.item_table = 'orders' AND o.item_id = bi.item_id
  GROUP BY bi.break_id
)
SELECT CAST($business_date AS DATE) AS business_date, b.break_id, b.break_type, b.channel,
  CAST(coalesce(CASE WHEN b.item_table = 'orders' THEN coalesce(CAST(o.psp_channel AS VARCHAR), go.psp_channel) END, b.channel)
       AS VARCHAR) AS counterparty,
  b.item_table, b.item_ref, i.file_id, coalesce(fi.file_name, gf.file_name) AS file_name, i.line_no,
  b.amount_minor, b.currency,
  b.counter_table, c.item_ref AS counter_ref, c.file_id AS counter_file_id, fc.file_name AS counter_file_name,
  c.line_no AS counter_line_no, CAST(c.channel AS VARCHAR) AS counter_channel,
  b.counter_amount_minor, b.counter_currency,
  coalesce((SELECT count(*) FROM break_items bi WHERE bi.break_id = b.break_id), 0) AS item_count,
  b.closest_rule, b.reason
FROM break_list AS b
LEFT JOIN all_items AS i ON i.item_id = b.item_id
LEFT JOIN all_items AS c ON c.item_id = b.counter_item_id
LEFT JOIN orders AS o ON b.item_table = 'orders' AND o.item_id = b.item_id
LEFT JOIN break_file_names AS fi ON fi.file_id = CAST(i.file_id AS VARCHAR)
LEFT JOIN break_file_names AS fc ON fc.file_id = CAST(c.file_id AS VARCHAR)
LEFT JOIN group_files AS gf ON gf.break_id = b.break_id
LEFT JOIN group_orders AS go ON go.break_id = b.break_id
ORDER BY b.break_type, b.break_id;
