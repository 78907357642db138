-- An order with no settlement expected (failed, expired: not admitted by the rules of its pairing) is not
-- final while its channel's settlement window is open: a settlement line arriving on a later business day
-- (the usual T+1) must still find it, as a status_mismatch with its order-feedback row. Until the window
-- closes (in business days of the calendar of its currency, due_dates) it is pending and carried.
UPDATE settled_outcomes SET outcome = 'pending'
WHERE item_table = 'orders' AND outcome = 'no_settlement_expected'
  AND item_id IN (
    SELECT o.item_id
    FROM orders AS o
    JOIN due_dates AS d
      ON d.channel = o.psp_channel AND d.currency = o.currency AND d.business_date = o.business_date
    WHERE d.window_due > CAST($business_date AS DATE)
  );
