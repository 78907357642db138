-- Helpers of the rule SQL. Integer arithmetic only: money never passes through a float.
-- A prefix is removed only where the key starts with it.
CREATE OR REPLACE MACRO recon_strip_prefix(s, p) AS
  CASE WHEN starts_with(s, p) THEN substr(s, length(p) + 1) ELSE s END;
-- n / d rounded half to even (d > 0), exact on HUGEINT.
CREATE OR REPLACE MACRO recon_div_half_even(n, d) AS
  CASE WHEN n < 0 THEN -1 ELSE 1 END * (
    abs(n) // d
    + CASE WHEN 2 * (abs(n) % d) > d THEN 1 WHEN 2 * (abs(n) % d) = d THEN (abs(n) // d) % 2 ELSE 0 END
  );
-- The conversion step: minor units times the exact rate num / den (exponents included), rounded half to even
-- to minor units of the target currency. This is the only rounding of a converted amount.
CREATE OR REPLACE MACRO recon_fx_convert(amount, num, den) AS
  CAST(recon_div_half_even(CAST(amount AS HUGEINT) * num, den) AS BIGINT);
