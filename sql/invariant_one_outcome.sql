-- Invariant 1: every input row has exactly one outcome, and the outcomes of each file add up to its rows.
SELECT 'several_outcomes' AS problem, item_table, file_id, line_no, CAST(count(*) AS BIGINT) AS n, NULL::BIGINT AS rows_in
FROM out_outcomes GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT 'count_mismatch', NULL, coalesce(m.file_id, o.file_id), NULL, coalesce(o.n, 0), coalesce(m.rows_in, 0)
FROM (SELECT file_id, rows_in + rows_carried AS rows_in FROM manifest_rows WHERE file_status = 'staged') AS m
FULL JOIN (SELECT file_id, CAST(count(*) AS BIGINT) AS n FROM out_outcomes GROUP BY file_id) AS o
  ON o.file_id = m.file_id
WHERE coalesce(o.n, 0) <> coalesce(m.rows_in, 0)
ORDER BY ALL;
