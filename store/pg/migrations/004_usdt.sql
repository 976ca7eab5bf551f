-- USDT on TON: a second currency beside TON. Amounts are bigint USDT units
-- (10^-6 USDT); a ledger row moves the balance of its own currency only.

ALTER TABLE partners
    ADD COLUMN balance_usdt bigint NOT NULL DEFAULT 0 CHECK (balance_usdt >= 0),  -- AppendLedger's, like balance_nano
    ADD COLUMN usdt_wallet  text NOT NULL DEFAULT '',  -- the top-up address's pinned USDT jetton wallet
    ADD COLUMN usdt_master  text NOT NULL DEFAULT '';  -- the master it was pinned for

ALTER TABLE orders
    ADD COLUMN price_usdt    bigint NOT NULL DEFAULT 0,
    ADD COLUMN received_usdt bigint NOT NULL DEFAULT 0,
    ADD COLUMN usdt_usd      text NOT NULL DEFAULT '',
    ADD COLUMN usdt_master   text NOT NULL DEFAULT '';

ALTER TABLE ledger
    ADD COLUMN currency           text NOT NULL DEFAULT 'TON',
    ADD COLUMN amount_usdt        bigint NOT NULL DEFAULT 0,
    ADD COLUMN balance_after_usdt bigint NOT NULL DEFAULT 0;

ALTER TABLE seen_tx
    ADD COLUMN currency    text NOT NULL DEFAULT '',
    ADD COLUMN amount_usdt bigint NOT NULL DEFAULT 0;

ALTER TABLE unmatched
    ADD COLUMN currency    text NOT NULL DEFAULT '',
    ADD COLUMN amount_usdt bigint NOT NULL DEFAULT 0;
