-- The pairs of a rule: a left unit and a right unit sharing the rule's keys (a fuzzy rule: its blocking keys,
-- the currency and the amount band), with every condition of the rule evaluated on the pair. Matching keeps
-- the pairs passing all of them; break classification and `recon rules explain` read the failed ones, so the
-- three always judge a pair the same way.
SELECT q.*,
  coalesce(q.n_cur_ok AND {cur_ok}, FALSE) AS cur_ok,
  coalesce(abs(q.diff) <= q.tol, FALSE) AS amt_ok,
  {date_ok} AS date_ok,
  {sim_ok} AS sim_ok,
  {size_ok} AS size_ok
FROM (
  SELECT p.*, p.l_cmp - p.r_cmp AS diff, {tol} AS tol, coalesce(abs(p.date_diff), 0) AS date_gap
  FROM (
    SELECT l.u_id AS l_id, r.u_id AS r_id, l.n_members AS l_size, r.n_members AS r_size,
      l.n_currencies = 1 AND r.n_currencies = 1 AS n_cur_ok,
      l.currency AS l_currency, r.currency AS r_currency, l.amount AS l_amount,
      {l_cmp} AS l_cmp, r.amount AS r_amount, r.amount AS r_cmp,
      {fx_num} AS fx_num, {fx_den} AS fx_den, {fx_rate} AS fx_rate, {fx_rate_date} AS fx_rate_date,
      {score} AS score, {date_diff} AS date_diff, l.u_date AS l_date, r.u_date AS r_date,
      l.f_ok AS l_ok, r.f_ok AS r_ok, {l_used} AS l_used, {r_used} AS r_used, l.orig AS l_orig, l.fee AS l_fee, r.orig AS r_orig, r.fee AS r_fee,
      l.ref AS l_ref, r.ref AS r_ref, l.gkey AS l_gkey, r.gkey AS r_gkey
    FROM ({lu}) AS l
    {join_type} ({ru}) AS r ON {join_on}
    {joins}
  ) AS p
) AS q
