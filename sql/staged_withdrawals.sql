-- The withdrawal orders staged on or before the run's date ($files: their staged Parquet, those with a direction)
-- that this run's items name by end-to-end id (staged_withdrawal_keys) although they may not be among the run's
-- items: an order decided by an earlier run, for the order feedback of its return or of a debit carried without
-- it, and the return rate of its rail. A repeated order id (a duplicate_order break) stands here by its first row
-- (date, file, line).
CREATE OR REPLACE TEMP TABLE staged_withdrawals AS
SELECT order_key, order_id, psp_channel, status, payment_method, file_id, line_no
FROM (
  SELECT end_to_end_key(order_id) AS order_key, order_id, psp_channel, status, payment_method, file_id, line_no,
    row_number() OVER (PARTITION BY end_to_end_key(order_id) ORDER BY business_date, file_id, line_no) AS nth
  FROM read_parquet($files, union_by_name = true)
  WHERE direction = 'withdrawal' AND end_to_end_key(order_id) IN (SELECT order_key FROM staged_withdrawal_keys)
)
WHERE nth = 1;
