-- A pair whose sides have no other candidate is each side's unique best: taken at once. The other pairs stay
-- for match_select_mutual_best.
CREATE OR REPLACE TEMP TABLE multi_l AS SELECT l_id FROM cand GROUP BY l_id HAVING count(*) > 1;
CREATE OR REPLACE TEMP TABLE multi_r AS SELECT r_id FROM cand GROUP BY r_id HAVING count(*) > 1;
CREATE OR REPLACE TEMP TABLE cand_rest AS
SELECT c.* FROM cand AS c WHERE c.l_id IN (SELECT l_id FROM multi_l)
UNION ALL
SELECT c.* FROM cand AS c WHERE c.r_id IN (SELECT r_id FROM multi_r) AND c.l_id NOT IN (SELECT l_id FROM multi_l);
CREATE OR REPLACE TEMP TABLE chosen_isolated AS
SELECT c.* FROM cand AS c
WHERE NOT EXISTS (SELECT 1 FROM multi_l AS m WHERE m.l_id = c.l_id)
  AND NOT EXISTS (SELECT 1 FROM multi_r AS m WHERE m.r_id = c.r_id);
