-- Record the {side} side of the chosen pairs when that side does not group: one row per pair. Columns a rule
-- does not carry come in as constants ({tol}, {fx_rate}, ...). The match id is the rule's tag and the
-- identity (file content id, line) of the left unit's first item.
INSERT INTO match_rows
SELECT 'M' || $rule_tag || mf.file_key || lpad(lower(to_hex(c.l_id & 4294967295)), 8, '0'), $rule_id, $pairing, '{side}', $item_table, c.{x}_id,
  CAST(c.{x}_cmp AS BIGINT), c.r_currency, CAST(c.diff AS BIGINT), {tol}, c.l_id,
  $rule_kind, $confidence, {score}, $tolerance_bps, {fee}, {fx_rate}, {fx_rate_date}, {orig}, {currency}
FROM {chosen} AS c
JOIN match_files AS mf ON mf.file_part = c.l_id >> 32;
INSERT INTO taken SELECT '{side}', c.{x}_id FROM {chosen} AS c;
