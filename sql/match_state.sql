-- Bookkeeping of the matching stage.
-- match_rows: one row per item taking part in a match (the published matches); `used` is the same rows seen
-- as "this item is consumed in this pairing". Its names (rule, pairing, side, table, kind, confidence) are
-- enumerations: a million matches store a byte each instead of a string.
DROP VIEW IF EXISTS used;
DROP TABLE IF EXISTS match_rows;
DROP TABLE IF EXISTS carried_matches;
DROP TABLE IF EXISTS owner;
DROP TYPE IF EXISTS recon_rule_id;
DROP TYPE IF EXISTS recon_pairing;
DROP TYPE IF EXISTS recon_side;
DROP TYPE IF EXISTS recon_table;
DROP TYPE IF EXISTS recon_kind;
DROP TYPE IF EXISTS recon_confidence;
CREATE OR REPLACE TEMP TABLE recon_rule_ids AS SELECT unnest(CAST($rule_ids AS VARCHAR[])) AS v;
CREATE OR REPLACE TEMP TABLE recon_pairings AS SELECT unnest(CAST($pairings AS VARCHAR[])) AS v;
CREATE TYPE recon_rule_id AS ENUM (SELECT v FROM recon_rule_ids);
CREATE TYPE recon_pairing AS ENUM (SELECT v FROM recon_pairings);
CREATE TYPE recon_side AS ENUM ('left', 'right');
CREATE TYPE recon_table AS ENUM ('orders', 'psp_settlement_lines', 'bank_statement_lines', 'payment_status');
CREATE TYPE recon_kind AS ENUM ('one_to_one', 'one_to_many', 'many_to_one', 'many_to_many', 'fuzzy');
CREATE TYPE recon_confidence AS ENUM ('high', 'low');
-- items set aside as duplicates of an earlier item of the same side (engine.mark_duplicates)
CREATE OR REPLACE TABLE excluded (pairing VARCHAR, side VARCHAR, item_id BIGINT, original_item_id BIGINT);
-- rates of the days before the run: reconcile loads them; a caller that does not finds none
CREATE TEMP TABLE IF NOT EXISTS fx_history AS SELECT business_date, base_currency, quote_currency, rate FROM fx_rates LIMIT 0;
CREATE TABLE match_rows (
  match_id VARCHAR, rule_id recon_rule_id, pairing recon_pairing, side recon_side, item_table recon_table,
  item_id BIGINT,
  amount_minor BIGINT,              -- the item's amount as the rule compared it (after fee and conversion)
  currency VARCHAR,                 -- the currency of that compared amount
  amount_difference_minor BIGINT,   -- left total minus right total of the match
  tolerance_minor BIGINT,           -- the tolerance the rule allowed this match, in minor units
  anchor BIGINT,                    -- smallest left item id of the match: orders the published rows without a string sort
  rule_kind recon_kind, confidence recon_confidence, similarity DECIMAL(9,6), tolerance_bps BIGINT, fee_minor BIGINT,
  fx_rate DECIMAL(38,12), fx_rate_date DATE, original_amount_minor BIGINT, original_currency VARCHAR
);
-- matches of earlier runs that items carried into this run keep (reconcile's carried_used, when present)
CREATE OR REPLACE TABLE carried_matches (
  pairing recon_pairing, side recon_side, item_table recon_table, item_id BIGINT, match_id VARCHAR
);
CREATE OR REPLACE VIEW used AS
SELECT pairing, side, item_table, item_id, match_id FROM match_rows
UNION ALL
SELECT pairing, side, item_table, item_id, match_id FROM carried_matches;
CREATE OR REPLACE TABLE break_list (
  break_id VARCHAR, break_type VARCHAR, pairing VARCHAR, channel VARCHAR,
  item_table VARCHAR, item_id BIGINT, item_ref VARCHAR, amount_minor BIGINT, currency VARCHAR,
  counter_table VARCHAR, counter_item_id BIGINT, counter_amount_minor BIGINT, counter_currency VARCHAR,
  closest_rule VARCHAR, reason VARCHAR
);
CREATE OR REPLACE TABLE break_items (break_id VARCHAR, item_table VARCHAR, item_id BIGINT);
CREATE OR REPLACE TABLE settled_outcomes (item_table VARCHAR, item_id BIGINT, outcome VARCHAR);
CREATE OR REPLACE TABLE owner (item_table recon_table, item_id BIGINT, pairing recon_pairing, admitted BOOLEAN);
CREATE OR REPLACE TABLE classified_members (pairing VARCHAR, item_id BIGINT);
-- the items each pairing used, by pairing number and side (0 left, 1 right): a narrow copy of match_rows
CREATE OR REPLACE TABLE used_items (pairing_no INTEGER, side_no INTEGER, item_id BIGINT);
CREATE OR REPLACE TABLE match_fx (
  rule_id VARCHAR, day DATE, from_ccy VARCHAR, to_ccy VARCHAR, num HUGEINT, den HUGEINT,
  rate DECIMAL(38,12), rate_date DATE
);
CREATE OR REPLACE TABLE match_bizdays (calendar VARCHAR, d DATE, idx BIGINT);
-- the file part of every item id (its upper 32 bits) and the start of that file's content id: match ids are
-- built from these, so they depend on the files' contents, never on which other files a run loads
CREATE OR REPLACE TABLE match_files AS
SELECT DISTINCT item_id >> 32 AS file_part, substr(file_id, 1, 12) AS file_key FROM orders
UNION ALL
SELECT DISTINCT item_id >> 32, substr(file_id, 1, 12) FROM psp_settlement_lines
UNION ALL
SELECT DISTINCT item_id >> 32, substr(file_id, 1, 12) FROM bank_statement_lines
UNION ALL
SELECT DISTINCT item_id >> 32, substr(file_id, 1, 12) FROM payment_status;
