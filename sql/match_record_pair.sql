-- Record the chosen pairs of a rule whose sides do not group: one row per side of each pair, both sides in one
-- statement with the match id formed once per pair. Columns a rule does not carry come in as constants
-- ({tol}, {fx_rate}, ...). The match id is the rule's tag and the identity (file content id, line) of the
-- left unit's first item.
INSERT INTO match_rows
WITH p AS MATERIALIZED (
  SELECT c.*, 'M' || $rule_tag || mf.file_key || lpad(lower(to_hex(c.l_id & 4294967295)), 8, '0') AS match_id
  FROM {chosen} AS c
  JOIN match_files AS mf ON mf.file_part = c.l_id >> 32
)
SELECT c.match_id, $rule_id, $pairing, 'left', $left_table, c.l_id,
  CAST(c.l_cmp AS BIGINT), c.r_currency, CAST(c.diff AS BIGINT), {tol}, c.l_id,
  $rule_kind, $confidence, {score}, $tolerance_bps, {l_fee}, {fx_rate}, {fx_rate_date}, {l_orig}, {l_currency}
FROM p AS c
UNION ALL
SELECT c.match_id, $rule_id, $pairing, 'right', $right_table, c.r_id,
  CAST(c.r_cmp AS BIGINT), c.r_currency, CAST(c.diff AS BIGINT), {tol}, c.l_id,
  $rule_kind, $confidence, {score}, $tolerance_bps, {r_fee}, {fx_rate}, {fx_rate_date}, {r_orig}, {r_currency}
FROM p AS c;
INSERT INTO taken SELECT 'left', c.l_id FROM {chosen} AS c UNION ALL SELECT 'right', c.r_id FROM {chosen} AS c;
