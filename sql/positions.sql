-- Net settlement positions per counterparty (PSP channel) and settlement currency of the business date's
-- own settlement lines (lines carried from earlier dates count in their own date's positions).
-- value_dates maps each channel to its computed value date and settlement model; received is the sum of
-- bank credits matched to that channel's payout batches of the date.
CREATE OR REPLACE TEMP TABLE positions_out AS
WITH lines AS (
  SELECT p.channel, p.currency, p.record_type, p.net_minor, p.fee_minor
  FROM psp_settlement_lines AS p
  WHERE p.record_type <> 'payout' AND p.business_date = CAST($business_date AS DATE)
), agg AS (
  SELECT channel, currency,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'payment'), 0) AS BIGINT) AS gross_captured_minor,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'refund'), 0) AS BIGINT) AS refunds_minor,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'chargeback'), 0) AS BIGINT) AS chargebacks_minor,
    CAST(coalesce(sum(-fee_minor), 0) + coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'fee'), 0)
         AS BIGINT) AS fees_minor,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'adjustment'), 0) AS BIGINT) AS adjustments_minor
  FROM lines
  GROUP BY channel, currency
), received AS (
  -- bank credits matched to the channel's payout batches, plus credits found against a batch that did
  -- not balance (they arrived; the variance shows the difference)
  SELECT channel, currency, CAST(sum(amount_minor) AS BIGINT) AS received_minor FROM (
    SELECT l.channel, m.currency, m.amount_minor
    FROM match_rows AS m
    JOIN (SELECT DISTINCT mr.match_id, p.channel
          FROM match_rows AS mr JOIN psp_settlement_lines AS p ON p.item_id = mr.item_id
          WHERE mr.side = 'left' AND mr.item_table = 'psp_settlement_lines'
            AND p.business_date = CAST($business_date AS DATE)) AS l ON l.match_id = m.match_id
    WHERE m.side = 'right' AND m.item_table = 'bank_statement_lines'
    UNION ALL
    SELECT b.channel, bl.currency, bl.amount_minor
    FROM break_list AS b
    JOIN break_items AS bi
      ON bi.break_id = b.break_id AND bi.item_table = 'bank_statement_lines' AND bi.item_id = b.counter_item_id
    JOIN bank_statement_lines AS bl ON bl.item_id = b.counter_item_id
    WHERE b.item_table = 'psp_settlement_lines' AND b.item_id IS NULL AND b.counter_table = 'bank_statement_lines'
      AND EXISTS (SELECT 1 FROM psp_settlement_lines AS p WHERE p.channel = b.channel AND p.payout_id = b.item_ref
                  AND p.business_date = CAST($business_date AS DATE))
  ) GROUP BY ALL
)
SELECT CAST($business_date AS DATE) AS business_date, a.channel AS counterparty, a.currency, v.value_date,
  a.gross_captured_minor, a.refunds_minor, a.chargebacks_minor, a.fees_minor, a.adjustments_minor,
  CASE WHEN v.model = 'gross'
       THEN a.gross_captured_minor + a.refunds_minor + a.chargebacks_minor + a.adjustments_minor
       ELSE a.gross_captured_minor + a.refunds_minor + a.chargebacks_minor + a.fees_minor + a.adjustments_minor
  END AS net_expected_minor,
  coalesce(r.received_minor, 0) AS received_minor,
  CAST(0 AS BIGINT) AS variance_minor
FROM agg AS a
JOIN value_dates AS v ON v.channel = a.channel
LEFT JOIN received AS r ON r.channel = a.channel AND r.currency = a.currency;
UPDATE positions_out SET variance_minor = received_minor - net_expected_minor;
