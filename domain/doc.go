// Package domain holds The Open Money's records and the names of their
// states: partners and keys, orders, the balance ledger, chain transfers,
// the outbox, webhooks, idempotency records and the operators' audit log.
// It imports nothing of the project: shop (which decides), store and
// store/pg (which keep the records), and the faces (api, bot, webhook,
// metrics) all use these types, and only shop changes them.
//
// Each type's doc says what it means and who may change it. Money is in
// integer nanotons throughout (USDT amounts in integer USDT units, 10^-6
// USDT); times are UTC to the microsecond (what every store keeps).
package domain
