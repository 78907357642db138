-- Nearest-candidate search of a pairing: the unmatched right items it owns, and an empty result table.
CREATE OR REPLACE TEMP TABLE unmatched_right AS
SELECT o.item_id FROM ({work_right}) AS w JOIN owner AS o ON o.item_id = w.item_id
WHERE o.item_table = $right_table AND o.pairing = $pairing AND o.admitted;
CREATE OR REPLACE TEMP TABLE near (
  r_id BIGINT, l_id BIGINT, rule_rank INTEGER, rule_id VARCHAR, l_ok BOOLEAN, l_values VARCHAR,
  l_used BOOLEAN, cur_ok BOOLEAN, amt_ok BOOLEAN, date_ok BOOLEAN, abs_diff BIGINT,
  l_amount BIGINT, l_currency VARCHAR, r_amount BIGINT, r_currency VARCHAR, tolerance BIGINT,
  l_date VARCHAR, r_date VARCHAR, date_window VARCHAR, l_note VARCHAR, r_note VARCHAR
);
