-- For each unmatched right item with candidates: the nearest one, the condition it failed, a break.
-- Order of preference: highest-priority rule, unused counterpart, then fewest failed conditions.
CREATE OR REPLACE TEMP TABLE near_typed AS
WITH best AS (
  SELECT * FROM (
    SELECT n.*, li.file_id AS l_file_id, li.line_no AS l_line_no, li.item_label AS l_label,
      row_number() OVER (
        PARTITION BY n.r_id
        ORDER BY n.rule_rank, n.l_used, NOT n.l_ok, NOT n.cur_ok, NOT n.amt_ok, NOT n.date_ok, n.abs_diff,
                 li.file_id, li.line_no
      ) AS rn
    FROM near AS n JOIN {left_items} AS li ON li.item_id = n.l_id
  ) WHERE rn = 1
), typed AS (
  SELECT b.*,
    CASE WHEN b.l_used THEN $v_duplicate WHEN NOT b.l_ok THEN $v_status WHEN NOT b.cur_ok THEN $v_currency
         WHEN NOT b.amt_ok THEN $v_amount WHEN NOT b.date_ok THEN $v_date ELSE $v_ambiguous END AS break_type,
    ri.item_label AS r_label, ri.channel AS r_channel, ri.file_id AS r_file_id, ri.line_no AS r_line_no,
    ri.item_ref AS r_ref
  FROM best AS b JOIN {right_items} AS ri ON ri.item_id = b.r_id
)
SELECT *,
  'B' || substr(sha256(concat_ws('|', break_type, $right_table, r_file_id, r_line_no)), 1, 16) AS break_id,
  CASE
    WHEN l_used THEN r_label || ' repeats ' || l_label || ', which is already matched'
    WHEN NOT l_ok THEN r_label || ' settles ' || l_label || ' but that item has ' || l_values
         || ', which rule ' || rule_id || ' does not accept'
    WHEN NOT cur_ok THEN r_label || ' is in ' || coalesce(r_currency, 'no currency') || ' but ' || l_label
         || ' is in ' || coalesce(l_currency, 'no currency') || ' (rule ' || rule_id || ')'
    WHEN NOT amt_ok THEN r_label || ' amount ' || fmt_money(r_amount, r_currency) || r_note || ' differs from '
         || l_label || ' amount ' || fmt_money(l_amount, l_currency) || l_note || ' by '
         || fmt_money(r_amount - l_amount, r_currency)
         || ' (tolerance ' || fmt_money(tolerance, r_currency) || ', rule ' || rule_id || ')'
    WHEN NOT date_ok THEN r_label || ' dated ' || coalesce(r_date, '?') || ' is outside ' || date_window || ' of '
         || l_label || ' dated ' || coalesce(l_date, '?') || ' (rule ' || rule_id || ')'
    ELSE r_label || ' and ' || l_label || ' match under rule ' || rule_id
         || ' but another item matches equally well'
  END AS reason
FROM typed;
INSERT INTO break_list
SELECT break_id, break_type, $pairing, r_channel, $right_table, r_id, r_ref, r_amount, r_currency,
  $left_table, l_id, l_amount, l_currency, rule_id, reason
FROM near_typed;
INSERT INTO break_items SELECT break_id, $right_table, r_id FROM near_typed;
-- The left item each break names is claimed by it (the nearest break first); an ambiguous break also claims
-- every other left item that ties with it under the same rule, so no tied candidate passes for unsettled.
CREATE OR REPLACE TEMP TABLE near_claims AS
SELECT c.break_id, c.l_id FROM (
  SELECT x.*, row_number() OVER (PARTITION BY x.l_id ORDER BY x.tied, x.abs_diff, x.r_file_id, x.r_line_no) AS claim
  FROM (
    SELECT t.break_id, t.l_id, t.abs_diff, t.r_file_id, t.r_line_no, FALSE AS tied FROM near_typed AS t WHERE NOT t.l_used
    UNION ALL
    SELECT t.break_id, n.l_id, n.abs_diff, t.r_file_id, t.r_line_no, TRUE
    FROM near_typed AS t
    JOIN near AS n ON n.r_id = t.r_id AND n.rule_rank = t.rule_rank AND n.l_id <> t.l_id
    WHERE t.break_type = $v_ambiguous AND NOT n.l_used AND n.l_ok AND n.cur_ok AND n.amt_ok AND n.date_ok
      AND n.abs_diff = t.abs_diff
  ) AS x
) AS c
WHERE c.claim = 1
  AND EXISTS (SELECT 1 FROM owner o WHERE o.item_table = $left_table AND o.item_id = c.l_id AND o.pairing = $pairing)
  AND NOT EXISTS (SELECT 1 FROM break_items bi WHERE bi.item_table = $left_table AND bi.item_id = c.l_id);
INSERT INTO break_items SELECT break_id, $left_table, l_id FROM near_claims;
INSERT INTO classified_members SELECT $pairing, r_id FROM near_typed;
INSERT INTO classified_members SELECT $pairing, l_id FROM near_claims;
