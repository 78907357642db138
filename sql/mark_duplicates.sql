-- Right items that repeat an earlier item on the pairing's duplicate columns are set aside. A 64-bit hash of
-- the columns finds the few candidate groups cheaply; the window then compares the columns themselves.
INSERT INTO excluded
WITH hashed AS (
  SELECT r.item_id, hash({partition}) AS h FROM {right_table} AS r WHERE {admitted}
), repeated AS (
  SELECT h FROM hashed GROUP BY h HAVING count(*) > 1
)
SELECT {pairing}, item_id, first_id FROM (
  SELECT r.item_id,
    first_value(r.item_id) OVER (PARTITION BY {partition} ORDER BY r.business_date, {order}) AS first_id,
    row_number() OVER (PARTITION BY {partition} ORDER BY r.business_date, {order}) AS rn
  FROM {right_table} AS r
  WHERE r.item_id IN (SELECT hashed.item_id FROM hashed JOIN repeated ON repeated.h = hashed.h)
) WHERE rn > 1;
