-- Keep the candidate pairs in which each side is the other's unique best (smallest amount difference,
-- then smallest date gap). A tie is never broken by row order: tied items stay for the next rule or
-- become an "ambiguous match" break.
CREATE OR REPLACE TEMP TABLE chosen AS
WITH ranked AS (
  SELECT *,
    rank() OVER (PARTITION BY l_id ORDER BY abs_diff, date_gap) AS l_rank,
    count(*) OVER (PARTITION BY l_id, abs_diff, date_gap) AS l_tie,
    rank() OVER (PARTITION BY r_id ORDER BY abs_diff, date_gap) AS r_rank,
    count(*) OVER (PARTITION BY r_id, abs_diff, date_gap) AS r_tie
  FROM cand
)
SELECT l_id, r_id, diff FROM ranked WHERE l_rank = 1 AND l_tie = 1 AND r_rank = 1 AND r_tie = 1;
