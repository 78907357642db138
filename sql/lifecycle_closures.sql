-- Breaks open before this run that are not open any more, and what closed them: their items matched
-- (with the rule), a manual resolution, or another break that now holds their items.
WITH before AS (
  SELECT DISTINCT break_id FROM carried WHERE break_id IS NOT NULL
), still_open AS (
  SELECT DISTINCT ref AS break_id FROM out_outcomes AS o
  WHERE o.outcome = 'break'
    AND NOT EXISTS (SELECT 1 FROM resolutions_now AS r
                    WHERE r.break_id = o.ref AND r.action IN ('write_off', 'manual_match', 'accept'))
), fate AS (
  SELECT c.break_id, o.outcome, o.ref
  FROM carried AS c
  JOIN out_outcomes AS o ON o.item_table = c.item_table AND o.file_id = c.file_id AND o.line_no = c.line_no
  WHERE c.break_id IS NOT NULL
)
SELECT CAST($business_date AS DATE) AS as_of_date, b.break_id,
  CASE
    WHEN EXISTS (SELECT 1 FROM resolutions_now AS r WHERE r.break_id = b.break_id
                 AND r.action IN ('write_off', 'manual_match', 'accept')) THEN 'resolved'
    WHEN EXISTS (SELECT 1 FROM fate AS f WHERE f.break_id = b.break_id AND f.outcome = 'matched') THEN 'matched'
    WHEN EXISTS (SELECT 1 FROM fate AS f WHERE f.break_id = b.break_id AND f.outcome = 'break') THEN 'superseded'
    ELSE 'pending'
  END AS closed_by,
  (SELECT min(m.rule_id) FROM fate AS f JOIN match_rows AS m ON m.match_id = f.ref
   WHERE f.break_id = b.break_id AND f.outcome = 'matched') AS rule_id,
  (SELECT min(f.ref) FROM fate AS f WHERE f.break_id = b.break_id AND f.outcome = 'matched') AS match_id,
  $run_id AS run_id
FROM before AS b
WHERE b.break_id NOT IN (SELECT break_id FROM still_open)
ORDER BY b.break_id;
