-- The items of one side its pairing may still use: admitted by one of the pairing's rules and not taken by
-- the rule that just ran. Only the columns the pairing's rules read are kept. The ids left are found first
-- (a set difference of ids), then their rows: an anti-join of the items with what the rule took would hash
-- the wider side when the rule took most of them.
CREATE OR REPLACE TEMP TABLE {target} AS
SELECT {columns} FROM {source} AS a
WHERE a.item_id IN (
  SELECT a.item_id FROM {source} AS a WHERE {admitted} AND {restrict}
  EXCEPT
  SELECT t.item_id FROM taken AS t WHERE t.side = $side
);
