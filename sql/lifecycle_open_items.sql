-- Items still open at the end of this run, offered again to the next business date's run:
--  * items whose outcome is a break not resolved by hand, or pending;
--  * members of payout batches still open (a batch break, or a batch pending until its value date),
--    even when their own outcome was decided (a payment line matched to its order still belongs to
--    the batch that the bank has yet to pay).
-- used_in lists the pairings an item was already matched in (pairing|side|match id), which the next
-- run keeps.
WITH resolved AS (
  SELECT break_id FROM resolutions_now WHERE action IN ('write_off', 'manual_match', 'accept')
), open_outcomes AS (
  SELECT o.item_table, o.file_id, o.line_no,
    CASE WHEN o.outcome = 'pending' THEN 'pending' ELSE 'break' END AS status,
    CASE WHEN o.outcome = 'break' THEN o.ref END AS break_id
  FROM out_outcomes AS o
  WHERE o.outcome IN ('break', 'pending') AND coalesce(o.ref, '') NOT IN (SELECT break_id FROM resolved)
), open_batches AS (
  SELECT channel, item_ref FROM break_list
  WHERE item_table = 'psp_settlement_lines' AND item_id IS NULL AND break_id NOT IN (SELECT break_id FROM resolved)
  UNION
  SELECT channel, item_ref FROM pending_groups
), batch_members AS (
  SELECT 'psp_settlement_lines' AS item_table, p.file_id, p.line_no, 'batch' AS status, NULL AS break_id
  FROM psp_settlement_lines AS p
  JOIN open_batches AS g ON g.channel = p.channel AND g.item_ref = p.payout_id
), candidates AS (
  SELECT * FROM open_outcomes
  UNION ALL
  SELECT * FROM batch_members AS m
  WHERE NOT EXISTS (SELECT 1 FROM open_outcomes AS o
                    WHERE o.item_table = m.item_table AND o.file_id = m.file_id AND o.line_no = m.line_no)
)
SELECT c.item_table, c.file_id, c.line_no, i.business_date AS item_business_date, i.channel, c.status, c.break_id,
  (SELECT string_agg(u.pairing || '|' || u.side || '|' || u.match_id, ';' ORDER BY u.pairing, u.side)
   FROM used AS u WHERE u.item_id = i.item_id) AS used_in
FROM candidates AS c
JOIN all_items AS i ON i.item_table = c.item_table AND i.file_id = c.file_id AND i.line_no = c.line_no
ORDER BY c.item_table, c.file_id, c.line_no;
