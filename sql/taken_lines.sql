-- The settlement lines this run took in (intake_units: the units of run/intake.py), not those carried from
-- earlier runs, each with the value date of its own business date in its currency's calendar (due_dates.cycle_due).
CREATE OR REPLACE TABLE taken_psp_lines AS
SELECT p.item_id, p.channel, p.currency, p.record_type, p.net_minor, p.fee_minor, p.payout_id, p.business_date,
  d.cycle_due AS value_date
FROM psp_settlement_lines AS p
JOIN intake_units AS t
  ON t.item_table = 'psp_settlement_lines' AND t.file_id = p.file_id AND t.row_date = p.business_date
JOIN due_dates AS d ON d.channel = p.channel AND d.currency = p.currency AND d.business_date = p.business_date;
