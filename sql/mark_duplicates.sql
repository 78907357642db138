-- Items of one side of a pairing that repeat an earlier item on the side's declared duplicate columns are set
-- aside: {scope} says which items count (those the pairing's rules admit; on the left side also those it owns),
-- {order} which one is first. A 64-bit hash of the columns finds the few candidate groups cheaply; the window
-- then compares the columns themselves.
INSERT INTO excluded
WITH hashed AS (
  SELECT r.item_id, hash({partition}) AS h FROM {table} AS r WHERE {scope}
), repeated AS (
  SELECT h FROM hashed GROUP BY h HAVING count(*) > 1
)
SELECT {pairing}, {side}, item_id, first_id FROM (
  SELECT r.item_id,
    first_value(r.item_id) OVER (PARTITION BY {partition} ORDER BY {order}) AS first_id,
    row_number() OVER (PARTITION BY {partition} ORDER BY {order}) AS rn
  FROM {table} AS r
  WHERE r.item_id IN (SELECT hashed.item_id FROM hashed JOIN repeated ON repeated.h = hashed.h)
) WHERE rn > 1;
