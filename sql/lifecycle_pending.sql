-- Expected delays are not breaks yet: a break of this type whose channel's settlement window (or
-- payout cycle) has not passed on the business date becomes "pending" for all its items. The window of an
-- order and the cycle of a payout count business days of the calendar of its currency (due_dates).
CREATE OR REPLACE TEMP TABLE pending_breaks AS
SELECT DISTINCT b.break_id
FROM break_list AS b
LEFT JOIN orders AS o ON b.item_table = 'orders' AND o.item_id = b.item_id
LEFT JOIN (
  SELECT channel, payout_id, currency, max(business_date) AS business_date
  FROM psp_settlement_lines WHERE payout_id IS NOT NULL GROUP BY ALL
) AS g ON b.item_table = 'psp_settlement_lines' AND b.item_id IS NULL AND g.channel = b.channel AND g.payout_id = b.item_ref
JOIN due_dates AS d
  ON d.channel = coalesce(o.psp_channel, g.channel) AND d.currency = coalesce(o.currency, g.currency)
  AND d.business_date = coalesce(o.business_date, g.business_date)
WHERE b.break_type = $break_type
  AND (CASE WHEN $due_column = 'settlement_window' THEN d.window_due ELSE d.cycle_due END) > CAST($business_date AS DATE);
INSERT INTO pending_groups
SELECT channel, item_ref FROM break_list WHERE break_id IN (SELECT break_id FROM pending_breaks) AND item_id IS NULL;
INSERT INTO settled_outcomes
SELECT bi.item_table, bi.item_id, 'pending' FROM break_items AS bi WHERE bi.break_id IN (SELECT break_id FROM pending_breaks);
DELETE FROM break_items WHERE break_id IN (SELECT break_id FROM pending_breaks);
DELETE FROM break_list WHERE break_id IN (SELECT break_id FROM pending_breaks);
