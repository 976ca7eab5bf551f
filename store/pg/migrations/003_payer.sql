-- The Fragment payer's batches (one signed external message of the service
-- wallet carrying several payments) and each order's message in them,
-- written in one transaction before the batch is broadcast. Batch ids are
-- taken under an advisory lock (store/pg/payer.go).

CREATE SEQUENCE payer_batch_id_seq;

CREATE TABLE payer_batches (
    id   bigint PRIMARY KEY,
    open boolean NOT NULL,       -- not settled yet: the open index
    rec  json NOT NULL
);
CREATE INDEX payer_batches_open ON payer_batches (id) WHERE open;

CREATE TABLE payer_messages (
    batch_id bigint NOT NULL,
    idx      integer NOT NULL,   -- position in the external message
    order_id bigint NOT NULL,
    rec      json NOT NULL,
    PRIMARY KEY (batch_id, idx)
);
CREATE INDEX payer_messages_by_order ON payer_messages (order_id, batch_id, idx);
