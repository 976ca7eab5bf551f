-- return_url: where the checkout page sends the customer back to (the
-- partner's shop) once the order is settled. Set at creation, never changed.
ALTER TABLE orders ADD COLUMN return_url text;  -- NULL: none
