-- Breaks open before this run (on a carried item, or open at the end of the previous run: previous_breaks)
-- that are not open any more (breaks_now: the run's open breaks, operational ones included), and what closed
-- them: their items matched (with the rule), a manual resolution, another break that now holds their items,
-- a pending state, or the condition that raised them cleared (a missing file arrived, a credit came).
WITH before AS (
  SELECT DISTINCT break_id FROM carried WHERE break_id IS NOT NULL
  UNION
  SELECT break_id FROM previous_breaks
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
    WHEN EXISTS (SELECT 1 FROM fate AS f WHERE f.break_id = b.break_id) THEN 'pending'
    ELSE 'cleared'
  END AS closed_by,
  (SELECT min(m.rule_id) FROM fate AS f JOIN match_rows AS m ON m.match_id = f.ref
   WHERE f.break_id = b.break_id AND f.outcome = 'matched') AS rule_id,
  (SELECT min(f.ref) FROM fate AS f WHERE f.break_id = b.break_id AND f.outcome = 'matched') AS match_id,
  $run_id AS run_id
FROM before AS b
WHERE b.break_id NOT IN (SELECT break_id FROM breaks_now)
ORDER BY b.break_id;
