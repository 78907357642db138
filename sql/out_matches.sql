-- Published matches: one row per item taking part in a match. File ids and channels are the run's enumerations
-- (reconcile._define_names): the sort moves an integer instead of the text; they are written out as text.
SELECT CAST($business_date AS DATE) AS business_date, m.match_id, m.rule_id, m.side, m.item_table,
  i.file_id, i.line_no, i.channel, i.item_ref,
  m.amount_minor, m.currency,
  m.amount_difference_minor, m.tolerance_minor,
  m.rule_kind, m.confidence, m.similarity, m.tolerance_bps, m.fee_minor, m.fx_rate, m.fx_rate_date,
  m.original_amount_minor, m.original_currency
FROM match_rows AS m
JOIN all_items AS i ON i.item_id = m.item_id
ORDER BY m.anchor, m.rule_id, m.side, m.item_id;
