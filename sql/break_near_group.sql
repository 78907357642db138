-- For each unmatched group of a grouped rule (the primary side): the nearest counterpart unit, the condition
-- it failed, a break. gpairs holds the rule's pairs seen from the primary side (p_*) and the counterpart
-- (c_*); a group without any counterpart sharing its key has one row with c_id NULL. A counterpart in another
-- currency that the pairing already matched (the credit of another currency of the same payout batch) is no
-- counterpart of the group (c_elsewhere keeps only its currency, for the reason).
CREATE OR REPLACE TEMP TABLE gnear AS
SELECT * REPLACE (CASE WHEN c_elsewhere IS NULL THEN c_id END AS c_id,
                  CASE WHEN c_elsewhere IS NULL THEN c_amount END AS c_amount,
                  CASE WHEN c_elsewhere IS NULL THEN c_currency END AS c_currency)
FROM (
  SELECT g.*, CASE WHEN g.c_used AND NOT g.cur_ok THEN coalesce(g.c_currency, '?') END AS c_elsewhere,
    row_number() OVER (
      PARTITION BY g.p_id
      ORDER BY g.c_id IS NULL, g.c_used, NOT g.cur_ok, NOT g.amt_ok, NOT g.date_ok, NOT g.size_ok, g.abs_diff, g.c_id
    ) AS rn
  FROM gpairs AS g
) WHERE rn = 1;
CREATE OR REPLACE TEMP TABLE gnear_typed AS
SELECT n.*, pi.channel AS p_channel, pu.members AS p_members, {c_members} AS c_members, {c_label} AS c_label,
  CASE WHEN n.p_size > $max_size THEN $v_unmatched
       WHEN n.c_id IS NULL THEN $v_unmatched WHEN n.c_used THEN $v_duplicate WHEN NOT n.cur_ok THEN $v_currency
       WHEN NOT n.amt_ok THEN $v_amount WHEN NOT n.date_ok THEN $v_date WHEN NOT n.size_ok THEN $v_unmatched
       ELSE $v_ambiguous END AS break_type
FROM gnear AS n
JOIN {p_units} AS pu ON pu.u_id = n.p_id
JOIN {p_items} AS pi ON pi.item_id = pu.members[1]
LEFT JOIN {c_items} AS ci ON ci.item_id = n.c_id
{c_units_join};
-- A key group that an earlier rule of the pairing already explained keeps that one break (one break per batch
-- key and channel): the members this rule groups again are left to the leftovers, item by item.
DELETE FROM gnear_typed AS n
WHERE EXISTS (SELECT 1 FROM break_list AS b WHERE b.pairing = $pairing AND b.item_table = $p_table
              AND b.item_id IS NULL AND b.item_ref = n.p_ref AND b.channel = n.p_channel);
CREATE OR REPLACE TEMP TABLE gnear_typed AS
SELECT *,
  'B' || substr(sha256(concat_ws('|', break_type, $p_table, 'group', p_gkey)), 1, 16) AS break_id,
  'group ' || coalesce(p_ref, '?') || ' (' || p_size || ' ' || $p_table || ' items, total '
    || fmt_money(CAST(p_amount AS BIGINT), p_currency) || ')'
  || CASE
       WHEN p_size > $max_size THEN ' has more items than the max_group_size (' || $max_size || ') of rule ' || $rule_id
       WHEN c_elsewhere IS NOT NULL THEN ' has no ' || $c_table || ' item in ' || coalesce(p_currency, '?')
            || ' with the same key (rule ' || $rule_id || '; the one in ' || c_elsewhere || ' is already matched)'
       WHEN c_id IS NULL THEN ' has no ' || $c_table || ' item with the same key (rule ' || $rule_id || ')'
       WHEN c_used THEN ' points to ' || c_label || ', which is already matched'
       WHEN NOT cur_ok THEN ' is not in the currency of ' || c_label || ' (' || coalesce(c_currency, '?') || ')'
       WHEN NOT amt_ok THEN ' differs from ' || c_label || ' amount ' || fmt_money(CAST(c_amount AS BIGINT), c_currency)
            || ' by ' || fmt_money(CAST(pc_diff AS BIGINT), cmp_currency)
            || ' (tolerance ' || fmt_money(tol, cmp_currency) || ', rule ' || $rule_id || ')'
       WHEN NOT date_ok THEN ' is dated outside the window of ' || c_label || ' (rule ' || $rule_id || ')'
       WHEN NOT size_ok THEN ' points to ' || c_label || ', which has more items than the max_group_size ('
            || $max_size || ') of rule ' || $rule_id
       ELSE ' matches ' || c_label || ' but another candidate matches equally well (rule ' || $rule_id || ')'
     END AS reason
FROM gnear_typed;
INSERT INTO break_list
SELECT break_id, break_type, $pairing, p_channel, $p_table, NULL, p_ref, CAST(p_amount AS BIGINT), p_currency,
  CASE WHEN c_id IS NULL THEN NULL ELSE $c_table END, {counter_item_id}, CAST(c_amount AS BIGINT), c_currency,
  $rule_id, reason
FROM gnear_typed;
INSERT INTO break_items
SELECT t.break_id, $p_table, m.item_id
FROM gnear_typed AS t, unnest(t.p_members) AS m(item_id)
WHERE EXISTS (SELECT 1 FROM owner o WHERE o.item_table = $p_table AND o.item_id = m.item_id AND o.pairing = $pairing)
  AND NOT EXISTS (SELECT 1 FROM break_items bi WHERE bi.item_table = $p_table AND bi.item_id = m.item_id);
-- The counterpart a break names is claimed by it (nearest first), unless a group is too large to match; an
-- ambiguous break also claims the other counterparts that tie with it.
CREATE OR REPLACE TEMP TABLE group_ties AS
SELECT t.break_id, g.c_id, g.abs_diff, t.p_gkey FROM gnear_typed AS t
JOIN gpairs AS g ON g.p_id = t.p_id AND g.c_id <> t.c_id
WHERE t.break_type = $v_ambiguous AND NOT g.c_used AND g.cur_ok AND g.amt_ok AND g.date_ok AND g.size_ok
  AND g.abs_diff = t.abs_diff;
CREATE OR REPLACE TEMP TABLE group_claims AS
SELECT c.break_id, m.item_id FROM (
  SELECT x.*, row_number() OVER (PARTITION BY x.c_id ORDER BY x.tied, x.abs_diff, x.p_gkey) AS claim
  FROM (
    SELECT t.break_id, t.c_id, t.c_members, t.abs_diff, t.p_gkey, FALSE AS tied FROM gnear_typed AS t
    WHERE t.c_id IS NOT NULL AND NOT t.c_used AND t.size_ok AND t.p_size <= $max_size
    UNION ALL
    SELECT g.break_id, g.c_id, {tie_members}, g.abs_diff, g.p_gkey, TRUE FROM group_ties AS g {tie_join}
  ) AS x
) AS c, unnest(c.c_members) AS m(item_id)
WHERE c.claim = 1
  AND EXISTS (SELECT 1 FROM owner o WHERE o.item_table = $c_table AND o.item_id = m.item_id AND o.pairing = $pairing)
  AND NOT EXISTS (SELECT 1 FROM break_items bi WHERE bi.item_table = $c_table AND bi.item_id = m.item_id);
INSERT INTO break_items SELECT break_id, $c_table, item_id FROM group_claims;
INSERT INTO classified_members SELECT $pairing, m.item_id FROM gnear_typed AS t, unnest(t.p_members) AS m(item_id);
INSERT INTO classified_members SELECT $pairing, item_id FROM group_claims;
