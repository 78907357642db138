-- Formatting of minor units for human-readable break reasons (integer arithmetic only).
CREATE OR REPLACE MACRO fmt_minor(x, e) AS
  CASE
    WHEN x IS NULL THEN NULL
    WHEN e = 0 THEN CAST(x AS VARCHAR)
    ELSE (CASE WHEN x < 0 THEN '-' ELSE '' END)
         || CAST(abs(x) // CAST(10 ** e AS BIGINT) AS VARCHAR) || '.'
         || lpad(CAST(abs(x) % CAST(10 ** e AS BIGINT) AS VARCHAR), CAST(e AS INTEGER), '0')
  END;
CREATE OR REPLACE MACRO fmt_money(x, ccy) AS
  coalesce(fmt_minor(x, (SELECT exponent FROM currency_exponents c WHERE c.currency = ccy)), CAST(x AS VARCHAR))
  || ' ' || coalesce(ccy, '?');
-- An end-to-end id as the shipped withdrawal pairings key it (strip_punctuation, casefold: the 15-character NACHA
-- individual id WDR202611260001 names the order WDR-20261126-0001); empty is no key.
CREATE OR REPLACE MACRO end_to_end_key(x) AS nullif(lower(regexp_replace(x, '[[:punct:]]', '', 'g')), '');
