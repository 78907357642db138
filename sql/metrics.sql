-- The run's metrics (docs/metrics.md), one row per metric, statistic and group, from the run's own DuckDB:
-- orders (new_orders: the orders this run took, carried ones left out so each order counts once), this run's
-- matches (match_rows) and breaks (break_list, break_items), the outcomes, the items carried in (carried, with
-- their breaks of the previous run: previous_breaks), the withdrawals this run's returns name (staged_withdrawals)
-- and two small frames of the lifecycle: metric_breaks (the run's breaks) and metric_closures (breaks closed since
-- the previous run, with their type and first day). $verdicts: the break types that decide a withdrawal.
-- Rates give numerator and denominator (the exact decimal is made from them); latencies and ages whole units.
-- Matches are related through their rule and anchor (smallest left item id): within a rule a left item is in one
-- match, so the pair names a match as its id does, and joins on two integers instead of a string. The carried
-- items are left out by anti-joins (a lookup correlated with each order made DuckDB gather every order first), and
-- each CTE keeps only the columns read from it (DuckDB materialises a CTE).
WITH new_orders AS (
  SELECT o.direction, o.psp_channel, o.currency, coalesce(o.payment_method, 'unknown') AS method_key,
    coalesce(o.country, 'unknown') AS country_key, o.status IN ('succeeded', 'refunded') AS succeeded
  FROM orders AS o
  ANTI JOIN (SELECT file_id, line_no FROM carried WHERE item_table = 'orders') AS c
    ON c.file_id = o.file_id AND c.line_no = o.line_no
), success AS (
  -- the five groupings in one pass over the orders
  SELECT direction,
    CASE WHEN grouping(psp_channel) = 0 THEN 'direction,channel' WHEN grouping(method_key) = 0
      THEN 'direction,payment_method' WHEN grouping(country_key) = 0 THEN 'direction,country'
      WHEN grouping(currency) = 0 THEN 'direction,currency' ELSE 'direction' END AS group_by,
    psp_channel AS channel, method_key AS payment_method, country_key AS country, currency,
    count(*) FILTER (WHERE succeeded) AS n, count(*) AS d
  FROM new_orders
  GROUP BY GROUPING SETS ((direction), (direction, psp_channel), (direction, method_key), (direction, country_key),
    (direction, currency))
), order_lines AS (
  -- an order and the PSP line this run matched it to: created -> booked, in whole minutes
  SELECT o.direction, o.psp_channel AS channel, o.currency,
    (epoch_ms(p.booked_at) - epoch_ms(o.created_at)) // 60000 AS minutes
  FROM match_rows AS mo
  JOIN orders AS o ON mo.item_table = 'orders' AND o.item_id = mo.item_id
  JOIN match_rows AS mp ON mp.anchor = mo.anchor AND mp.rule_id = mo.rule_id AND mp.item_table = 'psp_settlement_lines'
  JOIN psp_settlement_lines AS p ON p.item_id = mp.item_id
), line_credits AS (
  -- a PSP payment line whose payout this run matched to a bank credit: booked -> the credit's value date, days
  SELECT p.channel, p.currency,
    date_diff('day', p.business_date, coalesce(b.value_date, b.booking_date)) AS days
  FROM match_rows AS mb
  JOIN bank_statement_lines AS b ON mb.item_table = 'bank_statement_lines' AND b.item_id = mb.item_id
  JOIN match_rows AS mp ON mp.anchor = mb.anchor AND mp.rule_id = mb.rule_id AND mp.item_table = 'psp_settlement_lines'
  JOIN psp_settlement_lines AS p ON p.item_id = mp.item_id
  WHERE p.record_type = 'payment'
), booking_stats AS (
  -- each group's statistics in one pass (quantile_disc of a list: p50 and p95 together)
  SELECT direction, channel, currency, count(*) AS n, quantile_disc(minutes, [0.5, 0.95]) AS q, max(minutes) AS top
  FROM order_lines GROUP BY ALL
), credit_stats AS (
  SELECT channel, currency, count(*) AS n, quantile_disc(days, [0.5, 0.95]) AS q, max(days) AS top
  FROM line_credits GROUP BY ALL
), reconciled AS (
  -- per channel, the items with a reconciliation outcome, and those matched and those in a break
  SELECT i.channel, count(*) FILTER (WHERE o.outcome = 'matched') AS matched,
    count(*) FILTER (WHERE o.outcome = 'break') AS broken, count(*) AS d
  FROM out_outcomes AS o JOIN all_items AS i ON i.item_id = o.item_id
  WHERE o.outcome IN ('matched', 'break', 'pending', 'no_settlement_expected')
  GROUP BY i.channel
), at_risk AS (
  -- each open break's money at risk as the breaks carry it (pipelines/breaks/at_risk.py, docs/money-at-risk.md);
  -- file breaks (no amount, currency XXX) left out
  SELECT break_type, at_risk_currency AS currency, at_risk_minor AS amount
  FROM metric_breaks WHERE status = 'open' AND at_risk_currency <> 'XXX'
), decided AS (
  -- the withdrawal orders this run gave a verdict on (matched: to a debit, to a rejection, to a return; or a break
  -- that decides execution), for the first time: one carried with an earlier verdict counted in that run. Pending
  -- ones (within their rail's window), timed out or repeated ones wait for a verdict
  SELECT o.item_id, CAST(o.file_id AS VARCHAR) AS file_id, o.line_no, coalesce(o.payment_method, 'unknown') AS rail
  FROM orders AS o
  JOIN out_outcomes AS x ON x.item_id = o.item_id
  LEFT JOIN break_list AS b ON x.outcome = 'break' AND b.break_id = x.ref
  WHERE o.direction = 'withdrawal'
    AND (x.outcome = 'matched' OR list_contains(CAST($verdicts AS VARCHAR[]), b.break_type))
    AND NOT EXISTS (
      SELECT 1 FROM carried AS c JOIN previous_breaks AS p ON p.break_id = c.break_id
      WHERE c.item_table = 'orders' AND c.file_id = o.file_id AND c.line_no = o.line_no
        AND list_contains(CAST($verdicts AS VARCHAR[]), p.break_type)
    )
), debited AS (
  -- withdrawal orders a bank debit is paired with: in a match, or in a break naming both (another amount or
  -- currency, debited although rejected)
  SELECT mo.item_id FROM match_rows AS mo
  JOIN match_rows AS mb ON mb.anchor = mo.anchor AND mb.rule_id = mo.rule_id AND mb.item_table = 'bank_statement_lines'
  JOIN bank_statement_lines AS bl ON bl.item_id = mb.item_id AND bl.direction = 'debit'
  WHERE mo.item_table = 'orders' AND mo.item_id IN (SELECT item_id FROM decided)
  UNION
  SELECT b.counter_item_id FROM break_list AS b
  JOIN bank_statement_lines AS bl ON bl.item_id = b.item_id AND bl.direction = 'debit'
  WHERE b.item_table = 'bank_statement_lines' AND b.counter_table = 'orders'
  UNION
  SELECT bo.item_id FROM break_items AS bo
  JOIN break_items AS bb ON bb.break_id = bo.break_id AND bb.item_table = 'bank_statement_lines'
  JOIN bank_statement_lines AS bl ON bl.item_id = bb.item_id AND bl.direction = 'debit'
  WHERE bo.item_table = 'orders'
), returns_taken AS (
  -- the rail's returns this run took (a carried one counted in the run that took it)
  SELECT r.item_id, r.end_to_end_id FROM payment_status AS r
  ANTI JOIN (SELECT file_id, line_no FROM carried WHERE item_table = 'payment_status') AS c
    ON c.file_id = r.file_id AND c.line_no = r.line_no
  WHERE r.record_type IN ('return', 'reversal')
), return_orders AS (
  -- a return and the withdrawal it is paired with in this run: its match, or the break naming the order
  SELECT mr.item_id AS return_item, mo.item_id AS order_item FROM match_rows AS mr
  JOIN match_rows AS mo ON mo.anchor = mr.anchor AND mo.rule_id = mr.rule_id AND mo.item_table = 'orders'
  WHERE mr.item_table = 'payment_status'
  UNION
  SELECT item_id, counter_item_id FROM break_list WHERE item_table = 'payment_status' AND counter_table = 'orders'
), returned AS (
  -- the withdrawals the returns of this run return: paired in the run, or (decided by an earlier run, not among
  -- the run's items) staged under the return's end-to-end id
  SELECT DISTINCT CAST(o.file_id AS VARCHAR) AS file_id, o.line_no, coalesce(o.payment_method, 'unknown') AS rail
  FROM returns_taken AS r
  JOIN return_orders AS ro ON ro.return_item = r.item_id
  JOIN orders AS o ON o.item_id = ro.order_item AND o.direction = 'withdrawal'
  UNION
  SELECT DISTINCT s.file_id, s.line_no, coalesce(s.payment_method, 'unknown')
  FROM returns_taken AS r
  JOIN staged_withdrawals AS s ON s.order_key = end_to_end_key(r.end_to_end_id)
  WHERE r.item_id NOT IN (SELECT return_item FROM return_orders)
), withdrawals AS (
  -- execution: the withdrawals decided here, executed when a debit is paired with them; returns: the executed
  -- ones decided here and the ones returned by this run's returns (executed in an earlier run), returned or not
  SELECT d.rail, d.file_id, d.line_no, d.item_id IN (SELECT item_id FROM debited) AS executed FROM decided AS d
), returnable AS (
  SELECT rail, file_id, line_no FROM withdrawals WHERE executed
  UNION
  SELECT rail, file_id, line_no FROM returned
), return_rates AS (
  SELECT a.rail, count(*) FILTER (WHERE r.file_id IS NOT NULL) AS n, count(*) AS d
  FROM returnable AS a
  LEFT JOIN returned AS r ON r.file_id = a.file_id AND r.line_no = a.line_no
  GROUP BY a.rail
), rows AS (
  SELECT 'payment_success_rate' AS metric, 'rate' AS statistic, 'ratio' AS unit, group_by, direction, channel,
    payment_method, country, currency, NULL AS break_type, NULL AS rail, n AS numerator, d AS denominator,
    NULL AS whole, NULL AS amount_minor
  FROM success
  UNION ALL
  SELECT 'settlement_latency_booking', s.statistic, 'minutes', 'direction,channel,currency', direction, channel, NULL, NULL,
    currency, NULL, NULL, NULL, n, CASE s.statistic WHEN 'p50' THEN q[1] WHEN 'p95' THEN q[2] ELSE top END, NULL
  FROM booking_stats, (VALUES ('p50'), ('p95'), ('max')) AS s(statistic)
  UNION ALL
  SELECT 'settlement_latency_value_date', s.statistic, 'days', 'channel,currency', NULL, channel, NULL, NULL,
    currency, NULL, NULL, NULL, n, CASE s.statistic WHEN 'p50' THEN q[1] WHEN 'p95' THEN q[2] ELSE top END, NULL
  FROM credit_stats, (VALUES ('p50'), ('p95'), ('max')) AS s(statistic)
  UNION ALL
  SELECT m.metric, 'rate', 'ratio', 'all', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    sum(CASE m.metric WHEN 'match_rate' THEN matched ELSE broken END), sum(d), NULL, NULL
  FROM reconciled, (VALUES ('match_rate'), ('break_rate')) AS m(metric)
  GROUP BY m.metric HAVING sum(d) > 0
  UNION ALL
  SELECT m.metric, 'rate', 'ratio', 'channel', NULL, channel, NULL, NULL, NULL, NULL, NULL,
    CASE m.metric WHEN 'match_rate' THEN matched ELSE broken END, d, NULL, NULL
  FROM reconciled, (VALUES ('match_rate'), ('break_rate')) AS m(metric)
  UNION ALL
  SELECT 'money_at_risk', 'total', 'minor_units', 'break_type,currency', NULL, NULL, NULL, NULL, currency,
    break_type, NULL, NULL, count(*), NULL, sum(amount)
  FROM at_risk GROUP BY ALL
  UNION ALL
  SELECT 'money_at_risk', 'total', 'minor_units', 'currency', NULL, NULL, NULL, NULL, currency, NULL, NULL, NULL,
    count(*), NULL, sum(amount)
  FROM at_risk GROUP BY ALL
  UNION ALL
  SELECT 'time_to_resolve', s.statistic, 'days', g.group_by, NULL, NULL, NULL, NULL, NULL,
    CASE WHEN g.group_by = 'break_type' THEN c.break_type END, NULL, NULL, count(*),
    CASE s.statistic WHEN 'p50' THEN quantile_disc(c.days, 0.5) ELSE max(c.days) END, NULL
  FROM metric_closures AS c, (VALUES ('p50'), ('max')) AS s(statistic), (VALUES ('all'), ('break_type')) AS g(group_by)
  GROUP BY s.statistic, g.group_by, CASE WHEN g.group_by = 'break_type' THEN c.break_type END
  UNION ALL
  SELECT 'withdrawal_execution_rate', 'rate', 'ratio', 'rail', 'withdrawal', NULL, NULL, NULL, NULL, NULL, rail,
    count(*) FILTER (WHERE executed), count(*), NULL, NULL
  FROM withdrawals GROUP BY ALL
  UNION ALL
  SELECT 'withdrawal_return_rate', 'rate', 'ratio', 'rail', 'withdrawal', NULL, NULL, NULL, NULL, NULL, rail, n, d,
    NULL, NULL
  FROM return_rates
)
SELECT CAST($business_date AS DATE) AS business_date, metric, statistic, unit, group_by,
  CAST(direction AS VARCHAR) AS direction, CAST(channel AS VARCHAR) AS channel, CAST(payment_method AS VARCHAR)
  AS payment_method, CAST(country AS VARCHAR) AS country, CAST(currency AS VARCHAR) AS currency,
  CAST(break_type AS VARCHAR) AS break_type, CAST(rail AS VARCHAR) AS rail, CAST(numerator AS BIGINT) AS numerator,
  CAST(denominator AS BIGINT) AS denominator, CAST(whole AS BIGINT) AS whole, CAST(amount_minor AS BIGINT) AS amount_minor
FROM rows
ORDER BY metric, group_by, statistic, direction NULLS FIRST, channel NULLS FIRST, payment_method NULLS FIRST,
  country NULLS FIRST, currency NULLS FIRST, break_type NULLS FIRST, rail NULLS FIRST;
