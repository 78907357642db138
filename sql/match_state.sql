-- Bookkeeping of the matching stage.
CREATE OR REPLACE TABLE used (pairing VARCHAR, side VARCHAR, item_table VARCHAR, item_id BIGINT, match_id VARCHAR);
CREATE OR REPLACE TABLE excluded (pairing VARCHAR, item_id BIGINT, original_item_id BIGINT);
CREATE OR REPLACE TABLE match_rows (
  match_id VARCHAR, rule_id VARCHAR, pairing VARCHAR, side VARCHAR, item_table VARCHAR, item_id BIGINT,
  amount_minor BIGINT, currency VARCHAR, amount_difference_minor BIGINT, tolerance_minor BIGINT,
  anchor BIGINT  -- smallest left item id of the match: orders the published rows without a string sort
);
CREATE OR REPLACE TABLE break_list (
  break_id VARCHAR, break_type VARCHAR, pairing VARCHAR, channel VARCHAR,
  item_table VARCHAR, item_id BIGINT, item_ref VARCHAR, amount_minor BIGINT, currency VARCHAR,
  counter_table VARCHAR, counter_item_id BIGINT, counter_amount_minor BIGINT, counter_currency VARCHAR,
  closest_rule VARCHAR, reason VARCHAR
);
CREATE OR REPLACE TABLE break_items (break_id VARCHAR, item_table VARCHAR, item_id BIGINT);
CREATE OR REPLACE TABLE settled_outcomes (item_table VARCHAR, item_id BIGINT, outcome VARCHAR);
CREATE OR REPLACE TABLE owner (item_table VARCHAR, item_id BIGINT, pairing VARCHAR, admitted BOOLEAN);
CREATE OR REPLACE TABLE classified_members (pairing VARCHAR, item_id BIGINT);
