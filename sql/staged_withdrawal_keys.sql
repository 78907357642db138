-- The end-to-end ids (end_to_end_key: as the shipped withdrawal pairings key them) by which this run's items name
-- a withdrawal order that may not be among the run's items: the rail's returns (a return comes days after its
-- withdrawal was debited and decided by an earlier run), and the debits of withdrawal breaks found without their
-- order (a debit carried from an earlier run whose withdrawal that run decided: a failed order matched to its
-- rejection, a withdrawal matched to its first debit).
CREATE OR REPLACE TEMP TABLE staged_withdrawal_keys AS
SELECT DISTINCT k AS order_key FROM (
  SELECT end_to_end_key(end_to_end_id) AS k FROM payment_status WHERE record_type IN ('return', 'reversal')
  UNION ALL
  SELECT end_to_end_key(d.end_to_end_id) FROM break_list AS b
  JOIN bank_statement_lines AS d ON d.item_id = b.item_id
  WHERE b.break_type IN ('withdrawal_rejected_but_debited', 'withdrawal_debited_twice') AND b.counter_item_id IS NULL
)
WHERE k IS NOT NULL;
