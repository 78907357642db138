-- Invariant 3: no item is used twice within a pairing, and every match balances within its tolerance.
SELECT 'used_twice' AS problem, pairing, item_table, CAST(item_id AS VARCHAR) AS item, CAST(count(*) AS BIGINT) AS n
FROM used GROUP BY pairing, item_table, item_id HAVING count(*) > 1
UNION ALL
SELECT 'unbalanced', any_value(pairing), NULL, match_id,
  CAST(sum(CASE WHEN side = 'left' THEN amount_minor ELSE -amount_minor END) AS BIGINT)
FROM match_rows GROUP BY match_id
HAVING abs(sum(CASE WHEN side = 'left' THEN amount_minor ELSE -amount_minor END)) > any_value(tolerance_minor)
ORDER BY ALL;
