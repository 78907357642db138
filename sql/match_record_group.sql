-- Record the {side} side of the chosen pairs when that side groups: one row per member of the group. The
-- members are the items of the rule's source sharing the group's columns (g0, g1, ...). The match id is
-- formed once per chosen pair, before the members are joined.
CREATE OR REPLACE TEMP TABLE chosen_members AS
SELECT c.*, a.item_id AS member_id, {member_cmp} AS member_cmp, {member_fee} AS member_fee,
  a.{orig} AS member_orig, a.{currency} AS member_currency
FROM (SELECT c.*, 'M' || $rule_tag || mf.file_key || lpad(lower(to_hex(c.l_id & 4294967295)), 8, '0') AS match_id
      FROM {chosen} AS c
      JOIN match_files AS mf ON mf.file_part = c.l_id >> 32) AS c
JOIN {units} AS g ON g.u_id = c.{x}_id
JOIN ({members}) AS a ON {member_join};
INSERT INTO match_rows
SELECT c.match_id, $rule_id, $pairing, '{side}', $item_table, c.member_id,
  CAST(c.member_cmp AS BIGINT), c.r_currency, CAST(c.diff AS BIGINT), {tol}, c.l_id,
  $rule_kind, $confidence, {score}, $tolerance_bps, c.member_fee, {fx_rate}, {fx_rate_date},
  c.member_orig, c.member_currency
FROM chosen_members AS c;
INSERT INTO taken SELECT '{side}', member_id FROM chosen_members;
