-- Right items that repeat an earlier item on the pairing's duplicate columns are set aside.
INSERT INTO excluded
SELECT {pairing}, item_id, first_id FROM (
  SELECT r.item_id,
    first_value(r.item_id) OVER (PARTITION BY {partition} ORDER BY r.business_date, {order}) AS first_id,
    row_number() OVER (PARTITION BY {partition} ORDER BY r.business_date, {order}) AS rn
  FROM {right_table} AS r
  WHERE {admitted}
) WHERE rn > 1;
