-- The pairs of a grouped rule seen from the primary side ({p}: the grouped side whose unmatched groups are
-- explained) and the counterpart ({q}); pc_diff is primary minus counterpart, in the compared currency.
CREATE OR REPLACE TEMP TABLE gpairs AS
SELECT g.{p}_id AS p_id, g.{q}_id AS c_id, g.{p}_size AS p_size, g.{q}_size AS c_size,
  g.{p}_amount AS p_amount, g.{p}_currency AS p_currency,
  coalesce(g.{q}_orig, g.{q}_amount) AS c_amount, g.{q}_currency AS c_currency,
  {sign}g.diff AS pc_diff, abs(g.diff) AS abs_diff, g.r_currency AS cmp_currency, g.tol,
  g.cur_ok, g.amt_ok, g.date_ok, g.size_ok, coalesce(g.{q}_used, FALSE) AS c_used,
  g.{p}_ref AS p_ref, g.{p}_gkey AS p_gkey, g.{q}_ref AS c_ref
FROM ({pairs}) AS g WHERE g.{p}_id IS NOT NULL;
