-- What the platform owes out per rail (the channel a withdrawal order names in psp_channel), currency and value
-- date, against the debits the bank booked for it. Amounts stay positive; the direction ('withdrawal') gives
-- the sign. Owed: the withdrawal orders this run took in (intake_units) that are to be executed (succeeded,
-- pending, or refunded after a return: they were paid out first); value date: the order's business date plus
-- the rail's cycle (due_dates.cycle_due). Debited: the bank debits paired with those orders in this run (matched,
-- or found against the order for another amount). withdrawal_receipts: every debit paired with a withdrawal in
-- this run (carried orders too), at its order's value date, for fund verification across runs; a debit carried in
-- the break that paired it in an earlier run (another amount) was received in that run and is not counted again.
CREATE OR REPLACE TEMP TABLE withdrawal_debits AS
WITH paired AS (
  SELECT ml.item_id AS order_item, mr.item_id AS debit_item
  FROM match_rows AS ml JOIN match_rows AS mr ON mr.match_id = ml.match_id
  WHERE ml.item_table = 'orders' AND mr.item_table = 'bank_statement_lines'
  UNION ALL
  SELECT b.counter_item_id, b.item_id FROM break_list AS b
  WHERE b.item_table = 'bank_statement_lines' AND b.counter_table = 'orders'
    AND b.break_type = 'withdrawal_amount_mismatch'
)
SELECT o.item_id AS order_item, bl.item_id AS debit_item, o.file_id, o.business_date, o.psp_channel AS rail,
  o.currency, d.cycle_due AS value_date, bl.amount_minor
FROM paired AS p
JOIN orders AS o ON o.item_id = p.order_item
JOIN bank_statement_lines AS bl ON bl.item_id = p.debit_item AND bl.direction = 'debit' AND bl.currency = o.currency
JOIN due_dates AS d ON d.channel = o.psp_channel AND d.currency = o.currency AND d.business_date = o.business_date
WHERE o.direction = 'withdrawal';

CREATE OR REPLACE TEMP TABLE withdrawal_positions_out AS
WITH taken AS (
  SELECT o.item_id, o.psp_channel AS rail, o.currency, d.cycle_due AS value_date, o.amount_minor
  FROM orders AS o
  JOIN intake_units AS t ON t.item_table = 'orders' AND t.file_id = o.file_id AND t.row_date = o.business_date
  JOIN due_dates AS d ON d.channel = o.psp_channel AND d.currency = o.currency AND d.business_date = o.business_date
  WHERE o.direction = 'withdrawal' AND o.status IN ('succeeded', 'pending', 'refunded')
), owed AS (
  SELECT rail, currency, value_date, CAST(sum(amount_minor) AS BIGINT) AS owed_minor FROM taken GROUP BY ALL
), debited AS (
  SELECT w.rail, w.currency, w.value_date, CAST(sum(w.amount_minor) AS BIGINT) AS debited_minor
  FROM withdrawal_debits AS w WHERE w.order_item IN (SELECT item_id FROM taken) GROUP BY ALL
)
SELECT CAST($business_date AS DATE) AS business_date, o.rail AS counterparty, o.currency, o.value_date,
  CAST(0 AS BIGINT) AS gross_captured_minor, CAST(0 AS BIGINT) AS refunds_minor, CAST(0 AS BIGINT) AS chargebacks_minor,
  CAST(0 AS BIGINT) AS fees_minor, CAST(0 AS BIGINT) AS adjustments_minor,
  o.owed_minor AS net_expected_minor, coalesce(d.debited_minor, 0) AS received_minor,
  coalesce(d.debited_minor, 0) - o.owed_minor AS variance_minor, 'withdrawal' AS direction
FROM owed AS o
LEFT JOIN debited AS d ON d.rail = o.rail AND d.currency = o.currency AND d.value_date = o.value_date;

CREATE OR REPLACE TEMP TABLE withdrawal_receipts AS
SELECT CAST($business_date AS DATE) AS as_of_date, rail AS counterparty, currency, value_date,
  CAST(sum(amount_minor) AS BIGINT) AS received_minor
FROM withdrawal_debits AS w
WHERE NOT EXISTS (
  SELECT 1 FROM carried AS c
  JOIN previous_breaks AS p ON p.break_id = c.break_id AND p.break_type = 'withdrawal_amount_mismatch'
  JOIN bank_statement_lines AS bl ON bl.file_id = c.file_id AND bl.line_no = c.line_no
  WHERE c.item_table = 'bank_statement_lines' AND bl.item_id = w.debit_item
)
GROUP BY ALL ORDER BY ALL;
