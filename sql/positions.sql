-- Net settlement positions per counterparty (PSP channel), settlement currency and value date of the
-- settlement lines this run took in (intake_units; lines carried from earlier runs count in the positions of
-- the run that took them, see taken_lines.sql). Each line's value date comes from its own business date;
-- channel_models gives each channel's settlement model; received is the sum of the bank credits matched to the
-- channel's payout batches of those lines, at the batch's value date.
CREATE OR REPLACE TEMP TABLE positions_out AS
WITH lines AS (
  SELECT channel, currency, value_date, record_type, net_minor, fee_minor
  FROM taken_psp_lines WHERE record_type <> 'payout'
), agg AS (
  SELECT channel, currency, value_date,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'payment'), 0) AS BIGINT) AS gross_captured_minor,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'refund'), 0) AS BIGINT) AS refunds_minor,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'chargeback'), 0) AS BIGINT) AS chargebacks_minor,
    CAST(coalesce(sum(-fee_minor), 0) + coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'fee'), 0)
         AS BIGINT) AS fees_minor,
    CAST(coalesce(sum(net_minor + fee_minor) FILTER (WHERE record_type = 'adjustment'), 0) AS BIGINT) AS adjustments_minor
  FROM lines
  GROUP BY channel, currency, value_date
), batches AS (
  -- the payout batches of the lines taken, each at the value date of its latest line
  SELECT mr.match_id, any_value(p.channel) AS channel, max(p.value_date) AS value_date
  FROM match_rows AS mr JOIN taken_psp_lines AS p ON p.item_id = mr.item_id
  WHERE mr.side = 'left' AND mr.item_table = 'psp_settlement_lines'
  GROUP BY mr.match_id
), received AS (
  -- bank credits matched to the channel's payout batches, plus credits found against a batch that did
  -- not balance (they arrived; the variance shows the difference)
  SELECT channel, currency, value_date, CAST(sum(amount_minor) AS BIGINT) AS received_minor FROM (
    SELECT l.channel, m.currency, l.value_date, m.amount_minor
    FROM match_rows AS m JOIN batches AS l ON l.match_id = m.match_id
    WHERE m.side = 'right' AND m.item_table = 'bank_statement_lines'
    UNION ALL
    SELECT b.channel, bl.currency, bv.value_date, bl.amount_minor
    FROM break_list AS b
    JOIN break_items AS bi
      ON bi.break_id = b.break_id AND bi.item_table = 'bank_statement_lines' AND bi.item_id = b.counter_item_id
    JOIN bank_statement_lines AS bl ON bl.item_id = b.counter_item_id
    JOIN (SELECT channel, payout_id, max(value_date) AS value_date FROM taken_psp_lines GROUP BY ALL) AS bv
      ON bv.channel = b.channel AND bv.payout_id = b.item_ref
    WHERE b.item_table = 'psp_settlement_lines' AND b.item_id IS NULL AND b.counter_table = 'bank_statement_lines'
  ) GROUP BY ALL
)
SELECT CAST($business_date AS DATE) AS business_date, a.channel AS counterparty, a.currency, a.value_date,
  a.gross_captured_minor, a.refunds_minor, a.chargebacks_minor, a.fees_minor, a.adjustments_minor,
  CASE WHEN v.model = 'gross'
       THEN a.gross_captured_minor + a.refunds_minor + a.chargebacks_minor + a.adjustments_minor
       ELSE a.gross_captured_minor + a.refunds_minor + a.chargebacks_minor + a.fees_minor + a.adjustments_minor
  END AS net_expected_minor,
  coalesce(r.received_minor, 0) AS received_minor,
  CAST(0 AS BIGINT) AS variance_minor
FROM agg AS a
JOIN channel_models AS v ON v.channel = a.channel
LEFT JOIN received AS r ON r.channel = a.channel AND r.currency = a.currency AND r.value_date = a.value_date;
UPDATE positions_out SET variance_minor = received_minor - net_expected_minor;
