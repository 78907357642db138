-- Bank credits that arrived in this run against payout batches (matched, or found against a batch that
-- did not balance), by counterparty, currency and the batch's value date: the latest value date of its lines,
-- each line's in the calendar of its own currency (due_dates).
WITH credit_batches AS (
  SELECT m.match_id AS link, m.item_id AS credit_id, m.amount_minor, m.currency FROM match_rows AS m
  WHERE m.side = 'right' AND m.item_table = 'bank_statement_lines'
), members AS (
  SELECT mr.match_id AS link, any_value(p.channel) AS channel, max(d.cycle_due) AS value_date
  FROM match_rows AS mr JOIN psp_settlement_lines AS p ON p.item_id = mr.item_id
  JOIN due_dates AS d ON d.channel = p.channel AND d.currency = p.currency AND d.business_date = p.business_date
  WHERE mr.side = 'left' AND mr.item_table = 'psp_settlement_lines'
    AND mr.match_id IN (SELECT link FROM credit_batches)
  GROUP BY mr.match_id
), unbalanced AS (
  SELECT b.channel, bl.currency, bl.amount_minor, max(d.cycle_due) AS value_date
  FROM break_list AS b
  JOIN break_items AS bi
    ON bi.break_id = b.break_id AND bi.item_table = 'bank_statement_lines' AND bi.item_id = b.counter_item_id
  JOIN bank_statement_lines AS bl ON bl.item_id = b.counter_item_id
  JOIN psp_settlement_lines AS p ON p.channel = b.channel AND p.payout_id = b.item_ref
  JOIN due_dates AS d ON d.channel = p.channel AND d.currency = p.currency AND d.business_date = p.business_date
  WHERE b.item_table = 'psp_settlement_lines' AND b.item_id IS NULL AND b.counter_table = 'bank_statement_lines'
  GROUP BY b.break_id, b.channel, bl.currency, bl.amount_minor
), received AS (
  SELECT g.channel, c.currency, g.value_date, c.amount_minor
  FROM credit_batches AS c JOIN members AS g ON g.link = c.link
  UNION ALL
  SELECT channel, currency, value_date, amount_minor FROM unbalanced
)
SELECT CAST($business_date AS DATE) AS as_of_date, r.channel AS counterparty, r.currency, r.value_date,
  CAST(sum(r.amount_minor) AS BIGINT) AS received_minor
FROM received AS r
GROUP BY ALL ORDER BY ALL;
