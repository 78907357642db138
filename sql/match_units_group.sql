-- Units of a grouped side: the items sharing the group_by columns (g0, g1, ...), summed (sum_exclude members
-- count 0). A group is identified by its smallest item id. Member lists are built only where needed.
SELECT min(a.item_id) AS u_id, {keys}{group_values}CAST(NULL AS VARCHAR) AS fz,
  sum({member_amount}) AS amount, {amounts} AS amounts,
  min(a.{currency}) AS currency, CASE WHEN min(a.{currency}) = max(a.{currency}) THEN 1 ELSE 2 END AS n_currencies,
  max({u_date}) AS u_date, max({fx_d}) AS fx_d, count(*) AS n_members,
  CAST(NULL AS BIGINT) AS orig, CAST(NULL AS BIGINT) AS fee,
  TRUE AS f_ok, {ref} AS ref, {gkey} AS gkey, {members} AS members
FROM {source} AS a
WHERE {where} AND {group_not_null}
GROUP BY {group_cols}
