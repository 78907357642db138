-- Groups of the left side of an aggregate rule among items not yet used in this pairing.
CREATE OR REPLACE TEMP TABLE grp AS
SELECT
  row_number() OVER (ORDER BY {group_cols_l}) AS g_id,
  {group_select},
  sum(CASE WHEN {sum_exclude} THEN 0 ELSE l.{l_amount} END) AS amount,
  min(l.{l_currency}) AS currency,
  count(DISTINCT l.{l_currency}) AS n_currencies,
  max({l_date}) AS g_date,
  list(l.item_id ORDER BY l.item_id) AS members
FROM {left_table} AS l
WHERE {left_filter}
  AND {group_not_null}
  AND NOT EXISTS (SELECT 1 FROM used u WHERE u.pairing = $pairing AND u.side = 'left' AND u.item_id = l.item_id)
GROUP BY {group_cols_l};
