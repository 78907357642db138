-- Exact FX rates of one rule for every day of [$first_day, $last_day]: for each pair of currencies the latest
-- rate at most $max_age days before the day, as a fraction num / den that converts minor units of from_ccy
-- into minor units of to_ccy. A direct quote is preferred to its inverse, and both to a cross rate over a
-- common base (the alphabetically first base). `rate` is the fraction rounded half to even to 12 decimals,
-- for the record only: conversions use num / den. The rates are the run's own (fx_rates) and those of the days
-- before it (fx_history, loaded by reconcile; created empty by match_state when absent).
INSERT INTO match_fx
WITH rates AS (
  SELECT business_date AS rate_date, base_currency AS base, quote_currency AS quote,
    CAST(rate * CAST(1000000000000 AS DECIMAL(13,0)) AS HUGEINT) AS r
  FROM (SELECT business_date, base_currency, quote_currency, rate FROM fx_rates
        UNION ALL
        SELECT business_date, base_currency, quote_currency, rate FROM fx_history)
  WHERE rate > 0
), quotes AS (
  SELECT rate_date, base AS from_ccy, quote AS to_ccy, r AS num, CAST(1000000000000 AS HUGEINT) AS den,
    1 AS how, '' AS via FROM rates
  UNION ALL
  SELECT rate_date, quote, base, CAST(1000000000000 AS HUGEINT), r, 2, '' FROM rates
  UNION ALL
  SELECT a.rate_date, a.quote, b.quote, b.r, a.r, 3, a.base
  FROM rates AS a JOIN rates AS b ON b.rate_date = a.rate_date AND b.base = a.base AND b.quote <> a.quote
), best AS (
  SELECT * FROM (
    SELECT q.*, row_number() OVER (PARTITION BY rate_date, from_ccy, to_ccy ORDER BY how, via) AS rn FROM quotes AS q
  ) WHERE rn = 1 AND from_ccy <> to_ccy
), days AS (
  SELECT CAST(unnest(generate_series(CAST($first_day AS DATE), CAST($last_day AS DATE), INTERVAL 1 DAY)) AS DATE) AS day
), latest AS (
  SELECT * FROM (
    SELECT d.day, b.*, row_number() OVER (PARTITION BY d.day, b.from_ccy, b.to_ccy ORDER BY b.rate_date DESC) AS rk
    FROM days AS d JOIN best AS b ON b.rate_date <= d.day AND b.rate_date >= d.day - CAST($max_age AS INTEGER)
  ) WHERE rk = 1
)
SELECT $rule_id, l.day, l.from_ccy, l.to_ccy,
  l.num * CAST([1, 10, 100, 1000, 10000][et.exponent + 1] AS HUGEINT),
  l.den * CAST([1, 10, 100, 1000, 10000][ef.exponent + 1] AS HUGEINT),
  CAST(CAST(recon_div_half_even(l.num * CAST(1000000000000 AS HUGEINT), l.den) AS DECIMAL(38,0))
       * CAST(0.000000000001 AS DECIMAL(13,12)) AS DECIMAL(38,12)),
  l.rate_date
FROM latest AS l
JOIN currency_exponents AS ef ON ef.currency = l.from_ccy
JOIN currency_exponents AS et ON et.currency = l.to_ccy;
