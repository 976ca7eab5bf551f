-- The Open Money: initial schema. Every table keeps the whole record as JSON
-- (rec, written and read only by store/pg) beside the typed columns its
-- indexes need. Index columns are derived from the record by store/pg in the
-- same statement; no business rule lives here.

CREATE TABLE meta (
    key text PRIMARY KEY,
    val bytea NOT NULL
);

-- Id sequences. Values taken by a transaction that rolls back are lost, so ids
-- may have gaps. Where the shop pages by id (orders per partner, ledger rows
-- per partner, webhook deliveries per partner, the sandbox chain), store/pg
-- takes a transaction-scoped advisory lock before nextval so ids also
-- increase in commit order.
CREATE SEQUENCE partner_id_seq;
CREATE SEQUENCE order_id_seq;
CREATE SEQUENCE ledger_id_seq;
CREATE SEQUENCE unmatched_id_seq;
CREATE SEQUENCE outbox_id_seq;
CREATE SEQUENCE sandbox_seq;
CREATE SEQUENCE webhook_delivery_id_seq;

CREATE TABLE partners (
    id  bigint PRIMARY KEY,
    rec json NOT NULL
);

-- Lookup indexes as bbolt keeps them: written on every PutPartner, last
-- writer wins.
CREATE TABLE partners_by_telegram (
    telegram_user_id bigint PRIMARY KEY,
    partner_id       bigint NOT NULL
);

CREATE TABLE partners_by_address (
    address_raw text PRIMARY KEY,
    partner_id  bigint NOT NULL
);

CREATE TABLE api_keys (
    hash       text PRIMARY KEY,
    partner_id bigint NOT NULL,
    rec        json NOT NULL
);

CREATE TABLE orders (
    id               bigint PRIMARY KEY,
    partner_id       bigint NOT NULL,
    status           text NOT NULL,
    order_type       text NOT NULL,
    memo             text UNIQUE,          -- set when the order is created
    client_reference text,                 -- set when the order is created
    expiry_ns        bigint,               -- expires_at (unix ns) while pending_payment: the expiry queue
    in_delivery      boolean NOT NULL,     -- paid or processing: the delivery queue
    rec              json NOT NULL
);
CREATE INDEX orders_by_partner ON orders (partner_id, id);
CREATE INDEX orders_by_reference ON orders (partner_id, client_reference, id) WHERE client_reference IS NOT NULL;
CREATE INDEX orders_expiry_queue ON orders (expiry_ns, id) WHERE expiry_ns IS NOT NULL;
CREATE INDEX orders_delivery_queue ON orders (id) WHERE in_delivery;

CREATE TABLE ledger (
    id         bigint PRIMARY KEY,
    partner_id bigint NOT NULL,
    rec        json NOT NULL
);
CREATE INDEX ledger_by_partner ON ledger (partner_id, id);

CREATE TABLE seen_tx (
    hash text PRIMARY KEY,
    rec  json NOT NULL
);

CREATE TABLE unmatched (
    id  bigint PRIMARY KEY,
    rec json NOT NULL
);

CREATE TABLE idempotency (
    partner_id bigint NOT NULL,
    key        text NOT NULL,
    created_ns bigint NOT NULL,
    rec        json NOT NULL,
    PRIMARY KEY (partner_id, key)
);
CREATE INDEX idempotency_by_time ON idempotency (created_ns, partner_id, key);

CREATE TABLE outbox (
    channel text NOT NULL,
    id      bigint NOT NULL,
    rec     json NOT NULL,
    PRIMARY KEY (channel, id)
);

CREATE TABLE sandbox_chain (
    seq  bigint PRIMARY KEY,
    data bytea NOT NULL
);

CREATE TABLE webhooks (
    partner_id bigint PRIMARY KEY,
    rec        json NOT NULL
);

CREATE TABLE webhook_deliveries (
    id         bigint PRIMARY KEY,
    partner_id bigint NOT NULL,
    rec        json NOT NULL
);
CREATE INDEX webhook_deliveries_by_partner ON webhook_deliveries (partner_id, id);
