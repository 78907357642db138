-- Units of a side that does not group: every item is a unit of its own. Placeholders take fragments built
-- from schema-checked identifiers; values are bound.
SELECT a.item_id AS u_id, {keys}{fz} AS fz,
  {amount} AS amount, a.{currency} AS currency, 1 AS n_currencies,
  {u_date} AS u_date, {fx_d} AS fx_d, 1 AS n_members,
  a.{orig} AS orig, {fee} AS fee,
  {f_ok} AS f_ok, {ref} AS ref, CAST(NULL AS VARCHAR) AS gkey
FROM {source} AS a
WHERE {where}
