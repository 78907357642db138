-- The pairs of a one-to-one (or fuzzy) rule between an unmatched right item and a left item, with the
-- conditions each passes. Amounts are as compared: a converted left amount is in the right currency and its
-- note names the original amount and the rate (notes only for rules that convert or carry a fee). The left item's filter values are read for these pairs only.
INSERT INTO near
SELECT p.r_id, p.l_id, $rank, $rule_id, p.l_ok, {l_values}, p.l_used, p.cur_ok, p.amt_ok, p.date_ok,
  CAST(abs(p.diff) AS BIGINT),
  CAST(coalesce(p.l_cmp, p.l_amount) AS BIGINT),
  CASE WHEN p.fx_num IS NOT NULL THEN p.r_currency ELSE p.l_currency END,
  CAST(p.r_cmp AS BIGINT), p.r_currency, p.tol,
  CAST(p.l_date AS VARCHAR), CAST(p.r_date AS VARCHAR), $window,
  {l_note}, {r_note}
FROM ({pairs}) AS p
JOIN {left_table} AS lv ON lv.item_id = p.l_id
WHERE {restrict};
