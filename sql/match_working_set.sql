-- The items of one side its pairing may still use: admitted by one of the pairing's rules and not taken by
-- the rule that just ran. Only the columns the pairing's rules read are kept.
CREATE OR REPLACE TEMP TABLE {target} AS
SELECT {columns} FROM {source} AS a
WHERE {admitted} AND {restrict}
  AND NOT EXISTS (SELECT 1 FROM taken AS t WHERE t.side = $side AND t.item_id = a.item_id);
