-- The note of a left amount as compared: converted (original amount, rate, date) or net of / with its fee.
CASE WHEN p.fx_num IS NOT NULL
     THEN ' (' || fmt_money(p.l_amount, p.l_currency) || ' at ' || CAST(p.fx_rate AS VARCHAR) || ' of '
          || CAST(p.fx_rate_date AS VARCHAR) || ')'
     WHEN p.l_fee IS NOT NULL THEN ' (' || $l_fee_note || ' ' || fmt_money(p.l_fee, p.l_currency) || ')'
     ELSE '' END
