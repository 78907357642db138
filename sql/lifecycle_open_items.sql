-- Items still open at the end of this run (a break not resolved by hand, or pending): the next
-- business date's run offers them again.
SELECT o.item_table, o.file_id, o.line_no, i.business_date AS item_business_date, i.channel,
  CASE WHEN o.outcome = 'pending' THEN 'pending' ELSE 'break' END AS status,
  CASE WHEN o.outcome = 'break' THEN o.ref END AS break_id
FROM out_outcomes AS o
JOIN all_items AS i ON i.item_table = o.item_table AND i.file_id = o.file_id AND i.line_no = o.line_no
WHERE o.outcome IN ('break', 'pending')
  AND NOT EXISTS (SELECT 1 FROM resolutions_now AS r
                  WHERE r.break_id = o.ref AND r.action IN ('write_off', 'manual_match', 'accept'))
ORDER BY o.item_table, o.file_id, o.line_no;
