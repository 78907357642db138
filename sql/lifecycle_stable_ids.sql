-- Break ids that survive from run to run: derived from the primary item's identity (file and line) or,
-- for a group, from its channel and reference (a payout: its payout id, one per currency of its batch); never
-- from the break type, which may change as counterparts arrive.
CREATE OR REPLACE TEMP TABLE break_id_map AS
SELECT b.break_id AS old_id,
  'B' || substr(sha256(CASE
    WHEN b.item_id IS NOT NULL THEN concat_ws('|', b.item_table, i.file_id, i.line_no)
    ELSE concat_ws('|', b.item_table, 'group', b.channel, b.item_ref)
  END), 1, 16) AS new_id
FROM break_list AS b
LEFT JOIN all_items AS i ON i.item_id = b.item_id;
UPDATE break_list SET break_id = m.new_id FROM break_id_map AS m WHERE break_list.break_id = m.old_id;
UPDATE break_items SET break_id = m.new_id FROM break_id_map AS m WHERE break_items.break_id = m.old_id;
