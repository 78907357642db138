-- Orders whose internal status disagrees with the settlement: succeeded but not settled in time, still pending
-- past the channel's timeout, failed or expired but settled by the PSP, and refunded at the PSP while still not refunded internally.
SELECT CAST($business_date AS DATE) AS business_date, o.order_id, o.psp_channel, o.status AS internal_status,
  'not_settled' AS settled_as, 'unsettled' AS suggested_status, NULL AS evidence, b.break_id
FROM break_list AS b JOIN orders AS o ON o.item_id = b.item_id
WHERE b.break_type = 'order_not_settled'
UNION ALL
-- still pending in the order system past its channel's timeout (lifecycle_order_timeouts): expire it
SELECT CAST($business_date AS DATE), o.order_id, o.psp_channel, o.status, 'not_settled', 'expired',
  'pending since ' || strftime(o.created_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%MZ'), b.break_id
FROM break_list AS b JOIN orders AS o ON o.item_id = b.item_id
WHERE b.break_type = 'order_timeout'
UNION ALL
SELECT CAST($business_date AS DATE), o.order_id, o.psp_channel, o.status, 'settled', 'succeeded',
  coalesce(p.psp_reference, p.merchant_reference) || ' (' || p.channel || ' line ' || p.line_no || ')', b.break_id
FROM break_list AS b
JOIN orders AS o ON o.item_id = b.counter_item_id
JOIN psp_settlement_lines AS p ON p.item_id = b.item_id
WHERE b.break_type = 'status_mismatch'
UNION ALL
SELECT CAST($business_date AS DATE), s.order_id, s.psp_channel, s.status, 'refunded', 'refunded',
  coalesce(p.psp_reference, p.merchant_reference) || ' (' || p.channel || ' line ' || p.line_no || ')', NULL
FROM psp_settlement_lines AS p
JOIN staged_orders AS s ON s.order_id = p.merchant_reference
WHERE p.record_type = 'refund' AND p.item_id IN (SELECT item_id FROM taken_psp_lines) AND s.status <> 'refunded'
ORDER BY 2, 5;
