-- Orders still pending in the order system past their channel's timeout (order_timeouts: channel, direction,
-- timeout_minutes and day_end, the instant that closes the run's business date in the channel's time zone and
-- cut-off). An order counts when its extract says `pending` and no pairing matched or broke it (its outcome is
-- no_settlement_expected or pending). Time basis: created_at + timeout <= day_end, so a run of D times out the
-- orders whose timeout elapsed by the end of D, whatever the wall clock. Before its timeout such an order stays
-- pending (carried: the next run looks again); past it, it is an order_timeout break (id from the item, as
-- every break: lifecycle_stable_ids) carried and aged until resolved, or matched by a late settlement.
-- One order, one break: a pairing's verdict comes first. An order its pairing broke (a withdrawal without its debit
-- once its rail's window has passed: withdrawal_not_executed) is never timed out as well, nor one another break
-- names as its counterpart (a rail's rejection of a pending withdrawal: withdrawal_status_mismatch, whose
-- feedback already says what to do); only an order without a verdict yet (pending in its window, or no settlement
-- expected) is. When the window of a timed-out withdrawal then closes without a debit, its break becomes
-- withdrawal_not_executed under the same id (first seen kept).
CREATE OR REPLACE TEMP TABLE pending_timeouts AS
SELECT o.item_id, o.psp_channel, i.item_ref,
  (SELECT min(CAST(w.pairing AS VARCHAR)) FROM owner AS w WHERE w.item_table = 'orders' AND w.item_id = o.item_id)
    AS pairing, o.amount_minor, o.currency, t.timeout_minutes,
  'B' || substr(sha256(concat_ws('|', 'orders', i.file_id, i.line_no)), 1, 16) AS break_id,
  o.created_at + to_minutes(t.timeout_minutes) <= t.day_end AS timed_out,
  strftime(o.created_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%MZ') AS created_text
FROM orders AS o
JOIN all_items AS i ON i.item_id = o.item_id
JOIN order_timeouts AS t ON t.channel = o.psp_channel AND t.direction = o.direction
JOIN settled_outcomes AS s ON s.item_table = 'orders' AND s.item_id = o.item_id
WHERE o.status = 'pending' AND s.outcome IN ('no_settlement_expected', 'pending')
  AND NOT EXISTS (SELECT 1 FROM break_list AS b WHERE b.counter_table = 'orders' AND b.counter_item_id = o.item_id);
UPDATE settled_outcomes SET outcome = 'pending'
WHERE item_table = 'orders' AND item_id IN (SELECT item_id FROM pending_timeouts WHERE NOT timed_out);
DELETE FROM settled_outcomes
WHERE item_table = 'orders' AND item_id IN (SELECT item_id FROM pending_timeouts WHERE timed_out);
INSERT INTO break_list
SELECT break_id, 'order_timeout', pairing, psp_channel, 'orders', item_id, item_ref, amount_minor, currency,
  NULL, NULL, NULL, NULL, NULL,
  'order ' || item_ref || ' created ' || created_text || ' is still pending past the ' || timeout_minutes
    || '-minute timeout of ' || psp_channel || '; expire or fail it in the order system'
FROM pending_timeouts WHERE timed_out;
INSERT INTO break_items SELECT break_id, 'orders', item_id FROM pending_timeouts WHERE timed_out;
