-- Invariant 3: no item is used twice within a pairing, and every match balances within its tolerance.
-- The last row counts the run's matches (one group per match id).
WITH per_match AS MATERIALIZED (
  SELECT match_id, any_value(pairing) AS pairing, any_value(tolerance_minor) AS tolerance_minor,
    sum(CASE WHEN side = 'left' THEN amount_minor ELSE -amount_minor END) AS balance
  FROM match_rows GROUP BY match_id
)
SELECT 'used_twice' AS problem, pairing, item_table, CAST(item_id AS VARCHAR) AS item, CAST(count(*) AS BIGINT) AS n
FROM used GROUP BY pairing, item_table, item_id HAVING count(*) > 1
UNION ALL
SELECT 'unbalanced', pairing, NULL, match_id, CAST(balance AS BIGINT)
FROM per_match WHERE abs(balance) > tolerance_minor
UNION ALL
SELECT 'matches', NULL, NULL, NULL, count(*) FROM per_match
ORDER BY ALL;
