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
  SELECT o.item_id,
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
  SELECT p.item_id, 'batch' AS status, NULL AS break_id
  FROM psp_settlement_lines AS p
  JOIN open_batches AS g ON g.channel = p.channel AND g.item_ref = p.payout_id
), candidates AS (
  SELECT * FROM open_outcomes
  UNION ALL
  SELECT * FROM batch_members AS m WHERE m.item_id NOT IN (SELECT item_id FROM open_outcomes)
), open_items AS (
  SELECT i.item_table, i.file_id, i.line_no, i.item_id, i.business_date AS item_business_date, i.channel,
    c.status, c.break_id
  FROM candidates AS c
  JOIN all_items AS i ON i.item_id = c.item_id
), used_in AS (
  -- only the open items' matches are aggregated, not every match of the run
  SELECT u.item_id,
    string_agg(u.pairing || '|' || u.side || '|' || u.match_id, ';' ORDER BY u.pairing, u.side) AS used_in
  FROM used AS u
  WHERE u.item_id IN (SELECT item_id FROM open_items)
  GROUP BY u.item_id
)
SELECT o.item_table, o.file_id, o.line_no, o.item_business_date, o.channel, o.status, o.break_id, u.used_in
FROM open_items AS o
LEFT JOIN used_in AS u ON u.item_id = o.item_id
ORDER BY o.item_table, o.file_id, o.line_no;
