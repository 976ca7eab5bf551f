-- The Open Money: schema. One table per record kind, typed columns; the
-- indexes are the store's derived ones (store/pg/<kind>.go). Ids come from
-- sequences without locks: a rolled-back transaction leaves a gap, and ids
-- need not increase in commit order (docs/SCALING.md, "Ids and paging").
-- Times are timestamptz (microseconds). No business rule lives here beyond
-- what keeps the records consistent: uniqueness, and a balance that is
-- never negative.

CREATE TABLE meta (
    key text PRIMARY KEY,
    val bytea NOT NULL
);

CREATE SEQUENCE partner_id_seq;
CREATE TABLE partners (
    id                bigint PRIMARY KEY,
    created_at        timestamptz NOT NULL,
    name              text NOT NULL,
    telegram_user_id  bigint UNIQUE,          -- NULL: none
    telegram_chat_id  bigint NOT NULL,
    telegram_username text NOT NULL,      -- '' when none
    language          text NOT NULL,
    subwallet_id      bigint NOT NULL,
    topup_address     text NOT NULL,
    topup_address_raw text UNIQUE,            -- NULL: none
    -- Changed only with a ledger row (AppendLedger), never by PutPartner.
    balance_nano      bigint NOT NULL DEFAULT 0 CHECK (balance_nano >= 0),
    ledger_count      bigint NOT NULL DEFAULT 0,
    active_key_hash   text NOT NULL
);

CREATE TABLE api_keys (
    hash         text PRIMARY KEY,
    partner_id   bigint NOT NULL,
    prefix       text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE SEQUENCE order_id_seq;
CREATE TABLE orders (
    id                  bigint PRIMARY KEY,
    partner_id          bigint NOT NULL,
    status              text NOT NULL,
    order_type          text NOT NULL,
    stars_amount        bigint NOT NULL,
    premium_months      integer NOT NULL,
    recipient_username  text NOT NULL,
    price_nano          bigint NOT NULL,
    price_usd           text NOT NULL,     -- exact decimals, as priced
    ton_usd             text NOT NULL,
    fee_percent         text NOT NULL,
    payment_method      text NOT NULL,
    payment_currency    text NOT NULL,
    payment_address     text NOT NULL,
    payment_memo        text,              -- NULL: none (balance orders); a function of the id, not indexed
    expires_at          timestamptz,
    created_at          timestamptz NOT NULL,
    paid_at             timestamptz,
    completed_at        timestamptz,
    received_nano       bigint NOT NULL,
    client_reference    text,              -- NULL: none
    failure_reason      text NOT NULL,
    payment_tx_hashes   text[] NOT NULL,
    delivery_attempts   integer NOT NULL,
    delivery_ref        text NOT NULL,
    delivery_state      text NOT NULL,
    next_delivery_at    timestamptz,
    refunded_at         timestamptz,
    refund_ledger_id    bigint NOT NULL,
    idempotency_key     text NOT NULL,
    delivery_tx_hash    text NOT NULL,
    delivery_request_id text NOT NULL
);
CREATE INDEX orders_by_partner ON orders (partner_id, id);
CREATE INDEX orders_by_reference ON orders (partner_id, client_reference, id) WHERE client_reference IS NOT NULL;
CREATE INDEX orders_expiry_queue ON orders (expires_at, id) WHERE status = 'pending_payment';
CREATE INDEX orders_delivery_queue ON orders (id) WHERE status IN ('paid', 'processing');

CREATE SEQUENCE ledger_id_seq;
CREATE TABLE ledger (
    id                 bigint PRIMARY KEY,
    partner_id         bigint NOT NULL,
    type               text NOT NULL,
    amount_nano        bigint NOT NULL,   -- signed: debits are negative
    balance_after_nano bigint NOT NULL,
    order_id           bigint NOT NULL,
    tx_hash            text NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX ledger_by_partner ON ledger (partner_id, id);

CREATE TABLE seen_tx (
    hash            text PRIMARY KEY,
    kind            text NOT NULL,
    ref_id          bigint NOT NULL,
    amount_nano     bigint NOT NULL,
    seen_at         timestamptz NOT NULL,
    extra_ledger_id bigint NOT NULL
);

CREATE SEQUENCE unmatched_id_seq;
CREATE TABLE unmatched (
    id                 bigint PRIMARY KEY,
    tx_hash            text NOT NULL,
    lt                 bigint NOT NULL,   -- the uint64 logical time's bits
    chain_time         timestamptz NOT NULL,
    from_addr          text NOT NULL,
    to_addr            text NOT NULL,
    amount_nano        bigint NOT NULL,
    comment            bytea NOT NULL,    -- any bytes a transfer carried
    payload_hex        text NOT NULL,
    seen_at            timestamptz NOT NULL,
    assigned_at        timestamptz,
    assigned_ledger_id bigint NOT NULL
);

CREATE TABLE idempotency (
    partner_id  bigint NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    order_id    bigint NOT NULL,
    status      integer NOT NULL,
    body        bytea,                   -- the stored response, as sent
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (partner_id, key)
);
-- The TTL sweep reads it; rows arrive in time order, so a BRIN index costs
-- next to nothing per insert (a btree would be one more index write per key).
CREATE INDEX idempotency_by_time ON idempotency USING brin (created_at);

CREATE SEQUENCE outbox_id_seq;
CREATE TABLE outbox (
    channel         text NOT NULL,
    id              bigint NOT NULL DEFAULT nextval('outbox_id_seq'),
    partner_id      bigint NOT NULL,
    type            text NOT NULL,
    order_snapshot  jsonb,
    ledger_snapshot jsonb,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error      text NOT NULL,
    event_id        text NOT NULL,     -- '' or the id a redelivered event keeps
    redelivery_of   bigint NOT NULL,
    PRIMARY KEY (channel, id)
);

CREATE TABLE webhooks (
    partner_id      bigint PRIMARY KEY,
    url             text NOT NULL,
    events          text[] NOT NULL,
    secret          text NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    failing_since   timestamptz,
    disabled_at     timestamptz,
    disabled_reason text NOT NULL
);

CREATE SEQUENCE webhook_delivery_id_seq;
CREATE TABLE webhook_deliveries (
    id          bigint PRIMARY KEY,
    partner_id  bigint NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer NOT NULL,
    error       text NOT NULL,
    duration_ms bigint NOT NULL,
    final       text NOT NULL,
    -- The event itself, so it can be redelivered after it left the outbox.
    event_at        timestamptz NOT NULL,
    order_snapshot  jsonb,
    ledger_snapshot jsonb,
    redelivery_of   bigint NOT NULL
);
CREATE INDEX webhook_deliveries_by_partner ON webhook_deliveries (partner_id, id);

-- The sandbox chain: sequences in commit order (an advisory lock to the
-- commit, store/pg/chain.go), since the listener follows it by cursor.
CREATE SEQUENCE sandbox_seq;
CREATE TABLE sandbox_chain (
    seq  bigint PRIMARY KEY,
    data bytea NOT NULL
);
