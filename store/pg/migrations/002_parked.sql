-- Parked transfers (a chain transfer whose processing failed, kept for the
-- operator) and the operators' audit log. Ids are taken under an advisory
-- lock (store/pg/parked.go), so they increase in commit order.

CREATE SEQUENCE parked_id_seq;
CREATE SEQUENCE audit_id_seq;

CREATE TABLE parked (
    id      bigint PRIMARY KEY,
    tx_hash text NOT NULL UNIQUE,
    open    boolean NOT NULL,      -- not resolved yet: the open index
    rec     json NOT NULL
);
CREATE INDEX parked_open ON parked (id) WHERE open;

CREATE TABLE audit (
    id  bigint PRIMARY KEY,
    rec json NOT NULL
);
