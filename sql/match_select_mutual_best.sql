-- Keep the candidate pairs in which each side is the other's unique best: highest similarity (fuzzy rules),
-- then smallest amount difference, then smallest date gap. A tie is never broken by row order: tied items
-- stay for the next pass or rule, or become an "ambiguous match" break.
CREATE OR REPLACE TEMP TABLE ranked AS
SELECT c.*,
  (CAST(1000000 - coalesce(CAST({score} * 1000000 AS BIGINT), 1000000) AS HUGEINT) << 84)
  + (CAST(abs(c.diff) AS HUGEINT) << 20) + least({date_gap}, 1048575) AS k
FROM cand_rest AS c;
CREATE OR REPLACE TEMP TABLE chosen AS
WITH lb AS (SELECT l_id, min(k) AS k, count(*) AS n FROM ranked GROUP BY l_id),
     rb AS (SELECT r_id, min(k) AS k, count(*) AS n FROM ranked GROUP BY r_id),
     lt AS (SELECT c.l_id, count(*) AS t FROM ranked AS c JOIN lb ON lb.l_id = c.l_id AND lb.n > 1 AND c.k = lb.k
            GROUP BY c.l_id),
     rt AS (SELECT c.r_id, count(*) AS t FROM ranked AS c JOIN rb ON rb.r_id = c.r_id AND rb.n > 1 AND c.k = rb.k
            GROUP BY c.r_id)
SELECT c.* EXCLUDE (k) FROM ranked AS c
JOIN lb ON lb.l_id = c.l_id AND c.k = lb.k
JOIN rb ON rb.r_id = c.r_id AND c.k = rb.k
LEFT JOIN lt ON lt.l_id = c.l_id
LEFT JOIN rt ON rt.r_id = c.r_id
WHERE (lb.n = 1 OR lt.t = 1) AND (rb.n = 1 OR rt.t = 1);
CREATE OR REPLACE TEMP TABLE cand_rest AS
SELECT c.* FROM cand_rest AS c
WHERE NOT EXISTS (SELECT 1 FROM chosen AS x WHERE x.l_id = c.l_id)
  AND NOT EXISTS (SELECT 1 FROM chosen AS x WHERE x.r_id = c.r_id);
