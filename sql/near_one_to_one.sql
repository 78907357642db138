-- Every left item sharing a one-to-one rule's keys with an unmatched right item, and which of the
-- rule's conditions each pair passes.
INSERT INTO near
SELECT r.item_id, l.item_id, $rank, $rule_id,
  {left_filter}, {left_values},
  EXISTS (SELECT 1 FROM used u WHERE u.pairing = $pairing AND u.side = 'left' AND u.item_id = l.item_id),
  coalesce(l.{l_currency} = r.{r_currency}, FALSE),
  coalesce(abs(l.{l_amount} - r.{r_amount}) <= $tolerance, FALSE),
  coalesce({date_ok}, FALSE),
  abs(l.{l_amount} - r.{r_amount}),
  l.{l_amount}, l.{l_currency}, r.{r_amount}, r.{r_currency}, $tolerance,
  {l_date}, {r_date}, $window
FROM unmatched_right AS ur
JOIN {right_table} AS r ON r.item_id = ur.item_id
JOIN {left_table} AS l ON {key_join}
WHERE {right_filter};
