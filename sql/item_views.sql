-- One uniform view per matchable table: identity, label, and the amount an outcome accounts for.
CREATE OR REPLACE VIEW items_orders AS
SELECT item_id, 'orders' AS item_table, file_id, line_no, channel, business_date,
       order_id AS item_ref,
       'order ' || order_id AS item_label,
       amount_minor, currency
FROM orders;

CREATE OR REPLACE VIEW items_psp_settlement_lines AS
SELECT item_id, 'psp_settlement_lines' AS item_table, file_id, line_no, channel, business_date,
       coalesce(psp_reference, merchant_reference, payout_id) AS item_ref,
       'PSP ' || record_type || ' ' || coalesce(psp_reference, merchant_reference, payout_id, '?')
         || ' (' || channel || ' line ' || line_no || ')' AS item_label,
       net_minor AS amount_minor, currency
FROM psp_settlement_lines;

CREATE OR REPLACE VIEW items_bank_statement_lines AS
SELECT item_id, 'bank_statement_lines' AS item_table, file_id, line_no, channel, business_date,
       coalesce(end_to_end_id, entry_ref) AS item_ref,
       'bank ' || direction || ' ' || coalesce(end_to_end_id, entry_ref, '?')
         || ' (' || channel || ' line ' || line_no || ')' AS item_label,
       CASE WHEN direction = 'debit' THEN -amount_minor ELSE amount_minor END AS amount_minor, currency
FROM bank_statement_lines;

-- A rail's status report item (pain.002, NACHA, camt.054, CNAB): named by the end-to-end id it reports on; its
-- amount (where it has one) is unsigned, as reported
CREATE OR REPLACE VIEW items_payment_status AS
SELECT item_id, 'payment_status' AS item_table, file_id, line_no, channel, business_date,
       coalesce(end_to_end_id, original_transaction_id, transaction_id, instruction_id, batch_id) AS item_ref,
       'rail ' || record_type || ' ' || status || coalesce(' ' || reason_code, '') || ' '
         || coalesce(end_to_end_id, original_transaction_id, transaction_id, instruction_id, batch_id, '?')
         || ' (' || channel || ' line ' || line_no || ')' AS item_label,
       amount_minor, currency
FROM payment_status;
