-- Invariant 2: per file and currency, the amounts of all outcomes add up to the amounts that came in
-- (staged rows plus quarantined rows whose amount could be read).
WITH inputs AS (
  SELECT file_id, currency, sum(amount_minor) AS amount FROM all_items GROUP BY ALL
  UNION ALL
  SELECT file_id, currency, sum(amount_minor) FROM quarantine_rows GROUP BY ALL
), amount_in AS (
  SELECT file_id, currency, CAST(sum(amount) AS BIGINT) AS amount_in FROM inputs GROUP BY ALL
), amount_out AS (
  SELECT file_id, currency, CAST(sum(amount_minor) AS BIGINT) AS amount_out
  FROM out_outcomes WHERE outcome <> 'reference' GROUP BY ALL
)
SELECT coalesce(i.file_id, o.file_id) AS file_id, coalesce(i.currency, o.currency) AS currency,
  coalesce(i.amount_in, 0) AS amount_in, coalesce(o.amount_out, 0) AS amount_out
FROM amount_in AS i
FULL JOIN amount_out AS o ON o.file_id = i.file_id AND o.currency IS NOT DISTINCT FROM i.currency
WHERE coalesce(i.amount_in, 0) <> coalesce(o.amount_out, 0)
ORDER BY ALL;
