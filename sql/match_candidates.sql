-- Candidate pairs of a rule among the items its pairing has not used yet: the pairs passing every condition.
-- Only the columns the rule needs are kept ({columns}): a plain exact rule carries ids, amounts and currency.
CREATE OR REPLACE TEMP TABLE cand AS
SELECT {columns}
FROM ({pairs}) AS x
WHERE x.cur_ok AND x.amt_ok AND x.date_ok AND x.sim_ok AND x.size_ok;
