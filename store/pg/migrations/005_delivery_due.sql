-- The delivery loop reads due orders only, the longest due first: the
-- delivery queue ordered by when each order's next attempt is due
-- (domain.Order.DeliveryDueAt: next_delivery_at once an attempt set one, else
-- since it was paid). Orders backing off or waiting for an operator are
-- never scanned by a pass. orders_delivery_queue (id) stays: the operators'
-- list pages by id.
CREATE INDEX orders_delivery_due ON orders ((COALESCE(next_delivery_at, paid_at, created_at)), id)
    WHERE status IN ('paid', 'processing');
