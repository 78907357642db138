-- The outcome of every staged row, each decided by the pairing that owns the item. Built from the
-- matches, the breaks and the declared outcomes separately, so a row missing or counted twice shows. Tables
-- and file ids are the run's enumerations (reconcile._define_names): a small sort key, written out as text.
-- item_id (of staged items) is for the run's own queries; the published outcomes leave it out.
SELECT * FROM (
SELECT CAST($business_date AS DATE) AS business_date, CAST(i.item_table AS recon_item_table) AS item_table, i.file_id,
  i.line_no, 'matched' AS outcome, u.match_id AS ref, i.amount_minor, i.currency, i.item_id
FROM used AS u
JOIN owner AS o ON o.item_id = u.item_id AND o.pairing = u.pairing
JOIN all_items AS i ON i.item_id = u.item_id
UNION ALL
SELECT CAST($business_date AS DATE), CAST(i.item_table AS recon_item_table), i.file_id, i.line_no, 'break',
  bi.break_id, i.amount_minor, i.currency, i.item_id
FROM break_items AS bi
JOIN all_items AS i ON i.item_id = bi.item_id
UNION ALL
SELECT CAST($business_date AS DATE), CAST(i.item_table AS recon_item_table), i.file_id, i.line_no, s.outcome, NULL,
  i.amount_minor, i.currency, i.item_id
FROM settled_outcomes AS s
JOIN all_items AS i ON i.item_id = s.item_id
UNION ALL
SELECT CAST($business_date AS DATE), CAST('fx_rates' AS recon_item_table), f.file_id, f.line_no, 'reference', NULL,
  NULL, NULL, NULL
FROM fx_rates AS f
UNION ALL
SELECT CAST($business_date AS DATE), CAST(q.item_table AS recon_item_table), CAST(q.file_id AS recon_file_id),
  q.line_no, 'quarantined', q.ref, q.amount_minor, q.currency, NULL
FROM quarantine_rows AS q
) ORDER BY item_table, file_id, line_no;
