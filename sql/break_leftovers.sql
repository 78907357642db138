-- Items a pairing owns that neither matched nor joined a break: unmatched (admitted by a rule: they are in the
-- pairing's final working set) or not admitted by any rule (a declared break type, or a declared non-break
-- outcome).
CREATE OR REPLACE TEMP TABLE leftover AS
SELECT i.*, o.admitted FROM (
  SELECT item_id, admitted FROM owner WHERE item_table = $item_table AND pairing = $pairing AND NOT admitted{in_scope}
  UNION ALL
  SELECT o.item_id, o.admitted FROM ({work}) AS w JOIN owner AS o ON o.item_id = w.item_id
  WHERE o.item_table = $item_table AND o.pairing = $pairing AND o.admitted
) AS o
JOIN {items} AS i ON i.item_id = o.item_id
WHERE NOT EXISTS (SELECT 1 FROM break_items b WHERE b.item_table = $item_table AND b.item_id = o.item_id);
CREATE OR REPLACE TEMP TABLE leftover_breaks AS
SELECT *,
  CASE WHEN admitted THEN $break_type ELSE $not_admitted_break END AS break_type,
  'B' || substr(sha256(concat_ws('|', CASE WHEN admitted THEN $break_type ELSE $not_admitted_break END,
                                 $item_table, file_id, line_no)), 1, 16) AS break_id,
  CASE WHEN admitted
       THEN item_label || ' (' || fmt_money(amount_minor, currency) || ') has no counterpart under any rule of ' || $pairing
       ELSE item_label || ' is not accepted by any rule of ' || $pairing END AS reason
FROM leftover
WHERE admitted OR $not_admitted_break IS NOT NULL;
INSERT INTO break_list
SELECT break_id, break_type, $pairing, channel, $item_table, item_id, item_ref, amount_minor, currency,
  NULL, NULL, NULL, NULL, CASE WHEN admitted THEN $closest_rule END, reason
FROM leftover_breaks;
INSERT INTO break_items SELECT break_id, $item_table, item_id FROM leftover_breaks;
INSERT INTO settled_outcomes
SELECT $item_table, item_id, $not_admitted_outcome FROM leftover
WHERE NOT admitted AND $not_admitted_outcome IS NOT NULL;
