-- Withdrawals whose order-system status or handling the rail and the bank contradict, for the order system to
-- act on (the pay-in rows are order_feedback.sql): a pending withdrawal the bank debited (mark it executed), one
-- without a debit past its rail's window, one debited although failed (rejected) or debited twice (recall the
-- funds), for another amount or currency, returned by the rail (refund the customer's wallet) or rejected by it
-- while the order system shows it as going through (mark it failed); also the breaks whose withdrawal an earlier
-- run decided (staged_withdrawals). Columns as order_feedback.sql, plus action.
WITH debits AS (
  -- every bank debit paired with a withdrawal order: matched, or its break's counterpart
  SELECT ml.item_id AS order_id, mr.item_id AS debit_id
  FROM match_rows AS ml JOIN match_rows AS mr ON mr.match_id = ml.match_id
  WHERE ml.item_table = 'orders' AND mr.item_table = 'bank_statement_lines'
), rail_reports AS (
  -- the rail's status items matched to an order (a rejection with its reason), for the evidence
  SELECT ml.item_id AS order_item, string_agg(
      p.status || coalesce(' ' || p.reason_code, '') || ' (' || p.channel || ' line ' || p.line_no || ')', '; '
      ORDER BY p.business_date, p.file_id, p.line_no) AS reported
  FROM match_rows AS ml JOIN match_rows AS mr ON mr.match_id = ml.match_id
  JOIN payment_status AS p ON p.item_id = mr.item_id
  WHERE ml.item_table = 'orders' AND mr.item_table = 'payment_status'
  GROUP BY ml.item_id
), bank_label AS (
  SELECT item_id, 'bank debit ' || coalesce(end_to_end_id, entry_ref, '?') || ' ' || fmt_money(amount_minor, currency)
    || ' ' || currency || ' (' || channel || ' line ' || line_no || ')' AS label
  FROM bank_statement_lines
), rail_label AS (
  SELECT item_id, 'rail ' || status || coalesce(' ' || reason_code, '') || coalesce(' ' || reason_info, '')
    || coalesce(' ' || fmt_money(amount_minor, currency) || ' ' || currency, '')
    || ' (' || channel || ' line ' || line_no || ')' AS label,
    CASE WHEN record_type IN ('return', 'reversal') OR status IN ('returned', 'reversed') THEN 'returned'
         WHEN status = 'rejected' THEN 'rejected' ELSE 'accepted' END AS settled_as
  FROM payment_status
), rows AS (
  -- a pending withdrawal matched to its debit: executed
  SELECT o.order_id, o.psp_channel, o.status, 'executed' AS settled_as, 'succeeded' AS suggested_status,
    bl.label AS evidence, CAST(NULL AS VARCHAR) AS break_id, 'mark_executed' AS action
  FROM debits AS d JOIN orders AS o ON o.item_id = d.order_id JOIN bank_label AS bl ON bl.item_id = d.debit_id
  WHERE o.direction = 'withdrawal' AND o.status = 'pending'
    AND d.debit_id NOT IN (SELECT item_id FROM break_items WHERE item_table = 'bank_statement_lines')
  UNION ALL
  -- no debit after the rail's window
  SELECT o.order_id, o.psp_channel, o.status, 'not_executed', 'failed',
    'no bank debit within the window of ' || o.psp_channel, b.break_id, 'investigate'
  FROM break_list AS b JOIN orders AS o ON o.item_id = b.item_id
  WHERE b.break_type = 'withdrawal_not_executed'
  UNION ALL
  -- debited although the order failed (the rail rejected it), or for another amount or currency
  SELECT o.order_id, o.psp_channel, o.status, 'debited',
    CASE WHEN b.break_type = 'withdrawal_rejected_but_debited' THEN 'succeeded' ELSE o.status END,
    bl.label || coalesce('; ' || rr.reported, ''), b.break_id,
    CASE WHEN b.break_type = 'withdrawal_rejected_but_debited' THEN 'recall_funds' ELSE 'investigate' END
  FROM break_list AS b
  JOIN orders AS o ON o.item_id = b.counter_item_id
  JOIN bank_label AS bl ON bl.item_id = b.item_id
  LEFT JOIN rail_reports AS rr ON rr.order_item = o.item_id
  WHERE b.item_table = 'bank_statement_lines'
    AND b.break_type IN ('withdrawal_rejected_but_debited', 'withdrawal_amount_mismatch', 'withdrawal_currency_mismatch')
  UNION ALL
  -- a second debit of a withdrawal already debited (the break names the first debit)
  SELECT o.order_id, o.psp_channel, o.status, 'debited_twice', o.status, bl.label, b.break_id, 'recall_funds'
  FROM break_list AS b
  JOIN debits AS d ON d.debit_id = b.counter_item_id
  JOIN orders AS o ON o.item_id = d.order_id
  JOIN bank_label AS bl ON bl.item_id = b.item_id
  WHERE b.break_type = 'withdrawal_debited_twice'
  UNION ALL
  -- the rail's report contradicts the order: returned (refund the wallet), rejected (mark failed), other
  SELECT o.order_id, o.psp_channel, o.status, rl.settled_as,
    CASE WHEN b.break_type = 'withdrawal_returned' THEN 'refunded'
         WHEN b.break_type = 'withdrawal_status_mismatch' AND rl.settled_as = 'rejected' THEN 'failed'
         ELSE o.status END,
    rl.label, b.break_id,
    CASE WHEN b.break_type = 'withdrawal_returned' THEN 'refund_to_wallet'
         WHEN b.break_type = 'withdrawal_status_mismatch' AND rl.settled_as = 'rejected' THEN 'mark_failed'
         ELSE 'investigate' END
  FROM break_list AS b
  JOIN orders AS o ON o.item_id = b.counter_item_id
  JOIN rail_label AS rl ON rl.item_id = b.item_id
  WHERE b.item_table = 'payment_status' AND o.direction = 'withdrawal'
    AND b.break_type IN ('withdrawal_returned', 'withdrawal_status_mismatch', 'withdrawal_amount_mismatch',
                         'withdrawal_currency_mismatch')
  UNION ALL
  -- a break found without its withdrawal, which an earlier run decided and which is not among the run's items: a
  -- return after the withdrawal was debited, a debit carried from the run that matched the failed order to its
  -- rejection or the withdrawal to its first debit. The order is the one staged under the item's end-to-end id
  -- (staged_withdrawals); a return the order system has refunded already needs nothing
  SELECT s.order_id, s.psp_channel, s.status,
    CASE b.break_type WHEN 'withdrawal_returned' THEN rl.settled_as
                      WHEN 'withdrawal_debited_twice' THEN 'debited_twice' ELSE 'debited' END,
    CASE b.break_type WHEN 'withdrawal_returned' THEN 'refunded'
                      WHEN 'withdrawal_rejected_but_debited' THEN 'succeeded' ELSE s.status END,
    coalesce(rl.label, bl.label), b.break_id,
    CASE b.break_type WHEN 'withdrawal_returned' THEN 'refund_to_wallet' ELSE 'recall_funds' END
  FROM break_list AS b
  LEFT JOIN payment_status AS p ON b.item_table = 'payment_status' AND p.item_id = b.item_id
  LEFT JOIN bank_statement_lines AS d ON b.item_table = 'bank_statement_lines' AND d.item_id = b.item_id
  JOIN staged_withdrawals AS s ON s.order_key = end_to_end_key(coalesce(p.end_to_end_id, d.end_to_end_id))
  LEFT JOIN rail_label AS rl ON rl.item_id = p.item_id
  LEFT JOIN bank_label AS bl ON bl.item_id = d.item_id
  WHERE b.counter_item_id IS NULL
    AND (b.break_type IN ('withdrawal_rejected_but_debited', 'withdrawal_debited_twice')
         OR (b.break_type = 'withdrawal_returned' AND s.status <> 'refunded'))
)
SELECT CAST($business_date AS DATE) AS business_date, order_id, psp_channel, status AS internal_status, settled_as,
  suggested_status, evidence, break_id, action
FROM rows
ORDER BY order_id, settled_as, break_id;
