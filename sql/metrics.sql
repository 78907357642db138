-- The run's metrics (docs/metrics.md), one row per metric, statistic and group, from the run's own DuckDB:
-- orders (new_orders: the orders this run took, carried ones left out so each order counts once), this run's
-- matches (match_rows), the outcomes, and two small frames of the lifecycle: metric_breaks (the run's breaks)
-- and metric_closures (breaks closed since the previous run, with their type and first day).
-- Rates give numerator and denominator (the exact decimal is made from them); latencies and ages whole units.
WITH new_orders AS (
  SELECT o.*, coalesce(o.payment_method, 'unknown') AS method_key, coalesce(o.country, 'unknown') AS country_key,
    o.status IN ('succeeded', 'refunded') AS succeeded
  FROM orders AS o
  WHERE NOT EXISTS (SELECT 1 FROM carried AS c WHERE c.item_table = 'orders' AND c.file_id = o.file_id
                    AND c.line_no = o.line_no)
), success AS (
  SELECT direction, 'direction' AS group_by, NULL AS channel, NULL AS payment_method, NULL AS country,
    NULL AS currency, count(*) FILTER (WHERE succeeded) AS n, count(*) AS d FROM new_orders GROUP BY ALL
  UNION ALL
  SELECT direction, 'direction,channel', psp_channel, NULL, NULL, NULL,
    count(*) FILTER (WHERE succeeded), count(*) FROM new_orders GROUP BY ALL
  UNION ALL
  SELECT direction, 'direction,payment_method', NULL, method_key, NULL, NULL,
    count(*) FILTER (WHERE succeeded), count(*) FROM new_orders GROUP BY ALL
  UNION ALL
  SELECT direction, 'direction,country', NULL, NULL, country_key, NULL,
    count(*) FILTER (WHERE succeeded), count(*) FROM new_orders GROUP BY ALL
  UNION ALL
  SELECT direction, 'direction,currency', NULL, NULL, NULL, currency,
    count(*) FILTER (WHERE succeeded), count(*) FROM new_orders GROUP BY ALL
), order_lines AS (
  -- an order and the PSP line this run matched it to: created -> booked, in whole minutes
  SELECT o.direction, o.psp_channel AS channel, o.currency,
    (epoch_ms(p.booked_at) - epoch_ms(o.created_at)) // 60000 AS minutes
  FROM match_rows AS mo
  JOIN orders AS o ON mo.item_table = 'orders' AND o.item_id = mo.item_id
  JOIN match_rows AS mp ON mp.match_id = mo.match_id AND mp.item_table = 'psp_settlement_lines'
  JOIN psp_settlement_lines AS p ON p.item_id = mp.item_id
), line_credits AS (
  -- a PSP payment line whose payout this run matched to a bank credit: booked -> the credit's value date, days
  SELECT p.channel, p.currency,
    date_diff('day', p.business_date, coalesce(b.value_date, b.booking_date)) AS days
  FROM match_rows AS mb
  JOIN bank_statement_lines AS b ON mb.item_table = 'bank_statement_lines' AND b.item_id = mb.item_id
  JOIN match_rows AS mp ON mp.match_id = mb.match_id AND mp.item_table = 'psp_settlement_lines'
  JOIN psp_settlement_lines AS p ON p.item_id = mp.item_id
  WHERE p.record_type = 'payment'
), reconciled AS (
  SELECT i.channel, o.outcome FROM out_outcomes AS o JOIN all_items AS i ON i.item_id = o.item_id
  WHERE o.outcome IN ('matched', 'break', 'pending', 'no_settlement_expected')
), at_risk AS (
  SELECT break_type, currency,
    CASE WHEN break_type IN ('amount_mismatch', 'payout_amount_mismatch') AND counter_amount_minor IS NOT NULL
              AND counter_currency = currency
         THEN abs(amount_minor - counter_amount_minor) ELSE abs(amount_minor) END AS amount
  FROM metric_breaks WHERE status = 'open' AND currency <> 'XXX'
), withdrawals AS (
  SELECT method_key AS rail, succeeded AS executed,
    status = 'refunded' OR EXISTS (SELECT 1 FROM metric_breaks AS b JOIN break_items AS bi ON bi.break_id = b.break_id
                                  WHERE bi.item_table = 'orders' AND bi.item_id = n.item_id
                                    AND b.break_type LIKE '%return%') AS returned
  FROM new_orders AS n WHERE direction = 'withdrawal'
), rows AS (
  SELECT 'payment_success_rate' AS metric, 'rate' AS statistic, 'ratio' AS unit, group_by, direction, channel,
    payment_method, country, currency, NULL AS break_type, NULL AS rail, n AS numerator, d AS denominator,
    NULL AS whole, NULL AS amount_minor
  FROM success
  UNION ALL
  SELECT 'settlement_latency_booking', s.statistic, 'minutes', 'direction,channel,currency', direction, channel, NULL, NULL,
    currency, NULL, NULL, NULL, count(*),
    CASE s.statistic WHEN 'p50' THEN quantile_disc(minutes, 0.5) WHEN 'p95' THEN quantile_disc(minutes, 0.95)
                     ELSE max(minutes) END, NULL
  FROM order_lines, (VALUES ('p50'), ('p95'), ('max')) AS s(statistic) GROUP BY s.statistic, direction, channel, currency
  UNION ALL
  SELECT 'settlement_latency_value_date', s.statistic, 'days', 'channel,currency', NULL, channel, NULL, NULL,
    currency, NULL, NULL, NULL, count(*),
    CASE s.statistic WHEN 'p50' THEN quantile_disc(days, 0.5) WHEN 'p95' THEN quantile_disc(days, 0.95)
                     ELSE max(days) END, NULL
  FROM line_credits, (VALUES ('p50'), ('p95'), ('max')) AS s(statistic) GROUP BY s.statistic, channel, currency
  UNION ALL
  SELECT m.metric, 'rate', 'ratio', 'all', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    count(*) FILTER (WHERE outcome = m.counted), count(*), NULL, NULL
  FROM reconciled, (VALUES ('match_rate', 'matched'), ('break_rate', 'break')) AS m(metric, counted)
  GROUP BY ALL HAVING count(*) > 0
  UNION ALL
  SELECT m.metric, 'rate', 'ratio', 'channel', NULL, channel, NULL, NULL, NULL, NULL, NULL,
    count(*) FILTER (WHERE outcome = m.counted), count(*), NULL, NULL
  FROM reconciled, (VALUES ('match_rate', 'matched'), ('break_rate', 'break')) AS m(metric, counted) GROUP BY ALL
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
  SELECT 'withdrawal_return_rate', 'rate', 'ratio', 'rail', 'withdrawal', NULL, NULL, NULL, NULL, NULL, rail,
    count(*) FILTER (WHERE returned AND executed), count(*) FILTER (WHERE executed), NULL, NULL
  FROM withdrawals GROUP BY ALL
)
SELECT CAST($business_date AS DATE) AS business_date, metric, statistic, unit, group_by,
  CAST(direction AS VARCHAR) AS direction, CAST(channel AS VARCHAR) AS channel, CAST(payment_method AS VARCHAR)
  AS payment_method, CAST(country AS VARCHAR) AS country, CAST(currency AS VARCHAR) AS currency,
  CAST(break_type AS VARCHAR) AS break_type, CAST(rail AS VARCHAR) AS rail, CAST(numerator AS BIGINT) AS numerator,
  CAST(denominator AS BIGINT) AS denominator, CAST(whole AS BIGINT) AS whole, CAST(amount_minor AS BIGINT) AS amount_minor
FROM rows
ORDER BY metric, group_by, statistic, direction NULLS FIRST, channel NULLS FIRST, payment_method NULLS FIRST,
  country NULLS FIRST, currency NULLS FIRST, break_type NULLS FIRST, rail NULLS FIRST;
