-- A break keeps its type from run to run while its item is still unmatched: a duplicate settlement line (or a
-- repeated order) carried to a later run (its original was matched and is not carried) is still a duplicate,
-- not a line without an order. $kept lists, per pairing, the duplicate types and the unmatched types they must
-- not turn into ("duplicate|unmatched" pairs). Likewise an item found against a counterpart its rules do not
-- accept (a debit of a withdrawal the order system shows as failed: withdrawal_rejected_but_debited), carried
-- without that counterpart (another pairing decided it: the failed order matched its rejection) keeps its type;
-- $found lists those "status|unmatched" pairs.
UPDATE break_list AS b
SET break_type = p.break_type,
    reason = CASE
      WHEN list_contains(CAST($found AS VARCHAR[]), p.break_type || '|' || b.break_type)
      THEN 'found as ' || p.break_type || ' in an earlier run, against a counterpart decided there: ' || b.reason
      ELSE 'duplicate of ' || CASE WHEN b.item_table = 'orders' THEN 'an order' ELSE 'a settlement line' END
        || ' matched in an earlier run: ' || b.reason
    END
FROM previous_breaks AS p
WHERE p.break_id = b.break_id AND p.break_type <> b.break_type
  AND (list_contains(CAST($kept AS VARCHAR[]), p.break_type || '|' || b.break_type)
       OR list_contains(CAST($found AS VARCHAR[]), p.break_type || '|' || b.break_type));
