package bot

import (
	"fmt"
	"html"
	"strings"
)

// Languages the catalogue speaks. English is the fallback for everything.
const (
	langEN = "en"
	langID = "id"
)

// langOf maps a Telegram language_code (an IETF tag such as "id", "en-US")
// to a catalogue language: Indonesian for "id", English otherwise.
func langOf(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	if code == langID || strings.HasPrefix(code, langID+"-") {
		return langID
	}
	return langEN
}

// htmlText is already-formatted catalogue output, passed as an argument to
// another text without being escaped again.
type htmlText string

// catalogue holds every text the bot sends: language → key → fmt format
// (Telegram HTML). Built once per Bot; read-only afterwards.
type catalogue map[string]map[string]string

// text formats key in lang, falling back to English and then to the key
// itself. String arguments are HTML-escaped (the formats are HTML), so user
// input can never inject markup. Arguments a format does not use (shop
// error arguments a translation leaves out) are dropped silently.
func (c catalogue) text(lang, key string, args ...any) string {
	format, ok := c[lang][key]
	if !ok {
		format, ok = c[langEN][key]
	}
	if !ok {
		return html.EscapeString(key)
	}
	if len(args) == 0 {
		return format
	}
	esc := make([]any, len(args))
	for i, a := range args {
		switch s := a.(type) {
		case string:
			a = html.EscapeString(s)
		case htmlText:
			a = string(s)
		}
		esc[i] = a
	}
	out := fmt.Sprintf(format, esc...)
	if i := strings.Index(out, "%!(EXTRA "); i >= 0 {
		out = out[:i]
	}
	return out
}

// has reports whether key exists in the English (reference) catalogue.
func (c catalogue) has(key string) bool {
	_, ok := c[langEN][key]
	return ok
}

// baseTexts are the texts every user may see. Keys that match shop.Error.Key
// translate business errors (their Args in the shop's message order).
func baseTexts() catalogue {
	return catalogue{
		langEN: {
			"start": "👋 <b>The Open Money</b> sells Telegram Stars and Telegram Premium for TON.\n\n" +
				"<b>Buy in this chat</b>\n" +
				"/stars — Stars for any username, e.g. <code>/stars pandus 100</code>\n" +
				"/premium — Premium, e.g. <code>/premium pandus 3</code>\n" +
				"/orders — your recent orders\n" +
				"/balance — your balance and personal top-up address\n\n" +
				"<b>For developers</b>\n" +
				"/api — your API key for the partner API (<code>/api new</code> rotates it, <code>/api revoke</code> revokes it)\n\n" +
				"You pay with an ordinary TON transfer (or USD₮ on TON where offered); I tell you when it arrives and when the order is delivered.",
			"help":         "I understand these commands:\n/stars — buy Stars\n/premium — buy Premium\n/orders — recent orders\n/balance — balance and top-up address\n/api — API key\n/start — what this bot does",
			"private_only": "I work in private chats only. Open a direct chat with me and send /start.",
			"internal":     "Something went wrong on our side. Please try again in a minute.",

			"key_issued": "🔑 Your API key:\n\n<code>%s</code>\n\n" +
				"⚠️ <b>Keep it secret.</b> Anyone holding it can order and spend your balance. " +
				"It is shown only this once: store it now. If it leaks, send /api new to replace it.\n\n" +
				"Use it as <code>Authorization: Bearer osk_…</code>.",
			"key_info": "🔑 Your active API key: <code>%s…</code> (the start only; the full key is never shown again)\n" +
				"Created: %s\nLast used: %s",
			"key_never_used":  "never",
			"btn_rotate":      "🔄 Rotate",
			"btn_revoke":      "🗑 Revoke",
			"btn_revoke_yes":  "Yes, revoke it",
			"btn_keep":        "Keep it",
			"key_revoke_ask":  "Revoke the key <code>%s…</code>? Everything using it gets 401 at once.",
			"key_revoked":     "🗑 Key revoked: it no longer works. Send /api for a new one.",
			"key_rotated":     "🔄 Key <code>%s…</code> replaced: it no longer works. The new key follows.",
			"key_kept":        "OK, the key stays active.",
			"key_none":        "You have no active API key. Send /api to get one.",
			"key_changed":     "This key was already replaced or revoked; nothing was changed. Send /api to see the current one.",
			"api_usage":       "/api — show your key (or get one)\n/api new — replace it\n/api revoke — revoke it",
			"stars_usage":     "Send <code>/stars username quantity</code>, e.g. <code>/stars pandus 100</code>, or just /stars to pick.",
			"premium_usage":   "Send <code>/premium username months</code>, e.g. <code>/premium pandus 3</code>, or just /premium to pick.",
			"quantity_number": "The quantity must be a whole number, e.g. <code>/stars pandus 100</code>.",
			"months_number":   "The months must be 3, 6 or 12, e.g. <code>/premium pandus 3</code>.",
			"pick_stars":      "⭐ How many Stars?",
			"pick_months":     "💎 How many months of Telegram Premium?",
			"ask_username":    "Who receives them? Reply with a Telegram username, e.g. <code>@pandus</code>.",
			"ask_again":       "Reply with another username, or /start to stop.",
			"flow_expired":    "That choice has expired. Start again with /stars or /premium.",
			"what_stars":      "%d Stars for @%s",
			"what_premium":    "%d months of Telegram Premium for @%s",
			"quote":           "🧾 <b>%s</b>\n\nPrice: <b>%s TON</b> (%s USD)\nRate: 1 TON = %s USD, fee %s%% included.\n\nConfirm to get the payment details.",
			"quote_usdt":      "🧾 <b>%s</b>\n\nPrice: <b>%s TON</b> or <b>%s USDT</b> (%s USD)\nRates: 1 TON = %s USD, 1 USDT = %s USD, fee %s%% included.\n\nChoose how you pay to get the payment details.",
			"btn_confirm":     "✅ Confirm",
			"btn_pay_ton":     "💎 Pay %s TON",
			"btn_pay_usdt":    "💵 Pay %s USDT",
			"btn_pay":         "💎 Pay",
			"btn_app_orders":  "🧾 Open my orders",
			"btn_cancel":      "✖️ Cancel",
			"cancelled":       "Cancelled. Nothing was ordered.",
			"order_created":   "✅ Order #%d created; payment details below.",
			"already_created": "This order was already created.",
			"stale_button":    "This button has expired.",
			"payment": "🧾 <b>Order #%d</b>: %s\n\n" +
				"Send exactly <b>%s TON</b>\n" +
				"to: <code>%s</code>\n" +
				"with the comment (memo): <code>%s</code>\n\n" +
				"Payment link: <code>%s</code>\n\n" +
				"Pay before %s (%d min). Without the memo the payment cannot be matched to the order.",
			"payment_usdt": "🧾 <b>Order #%d</b>: %s\n\n" +
				"Send exactly <b>%s</b> (%s USD) in USD₮ on TON\n" +
				"to: <code>%s</code>\n" +
				"with the comment (memo): <code>%s</code>\n\n" +
				"Payment link: <code>%s</code>\n\n" +
				"Pay before %s (%d min). Without the memo the payment cannot be matched to the order. " +
				"Only USD₮ on TON counts (jetton master <code>%s</code>): USDT on another network or any other token is never credited.",
			"qr_caption":             "Scan to pay %s, memo %s",
			"orders_none":            "You have no orders yet. Try /stars or /premium.",
			"orders_head":            "🧾 <b>Your recent orders</b>",
			"order_line":             "#%d · %s · %s · %s",
			"order_pending":          "memo <code>%s</code>, pay before %s",
			"balance":                "💰 Balance: <b>%s TON</b>\n\nYour top-up address (yours alone):\n<code>%s</code>\nAny TON sent to it is added to your balance — the same balance your API key uses.",
			"balance_usdt":           "💰 Balance: <b>%s TON</b> and <b>%s USDT</b>\n\nYour top-up address (yours alone):\n<code>%s</code>\nAny TON or USD₮ on TON sent to it is added to your balance in that currency — the same balance your API key uses.",
			"balance_usdt_off":       "💰 Balance: <b>%s TON</b> and <b>%s USDT</b>\n\nYour top-up address (yours alone):\n<code>%s</code>\nAny TON sent to it is added to your balance — the same balance your API key uses. USDT is not accepted at the moment; your USDT balance stays as it is.",
			"ledger_head":            "<b>Recent movements</b>",
			"ledger_none":            "No movements yet.",
			"ledger_line":            "%s · %s · %s",
			"topup_caption":          "Your top-up address: %s",
			"status_pending_payment": "waiting for payment",
			"status_paid":            "paid",
			"status_processing":      "delivering",
			"status_completed":       "delivered",
			"status_failed":          "failed",
			"status_refunded":        "refunded",
			"status_expired":         "expired",
			"status_cancelled":       "cancelled",
			"ledger_topup":           "top-up",
			"ledger_order_payment":   "order payment",
			"ledger_overpayment":     "overpayment",
			"ledger_late_payment":    "late payment",
			"ledger_refund":          "refund",
			"ledger_adjustment":      "adjustment",
			"ledger_wrong_currency":  "paid in the other currency",

			"n_paid":           "✅ Payment received for order #%d (%s): %s. Delivering now…",
			"n_completed":      "🎉 Order #%d delivered: %s (paid %s).",
			"n_refunded":       "↩️ Order #%d (%s) could not be delivered. %s was refunded to your balance (/balance).",
			"n_reason":         "Reason: %s",
			"n_reason_code":    "Reason: %s (<code>%s</code>)",
			"n_expired":        "⌛ Order #%d (%s) expired unpaid.",
			"n_expired_credit": "⌛ Order #%d (%s) expired; the %s received was credited to your balance (/balance).",
			"n_cancelled":      "Order #%d (%s) was cancelled.",
			"n_topup":          "💰 Top-up received: +%s. Balance: %s.",
			"n_other":          "Order #%d (%s) is now: %s.",
			"n_webhook_disabled": "⚠️ Your webhook was <b>disabled</b>: every delivery to it failed for 3 days, so no more events are queued for it.\n\n" +
				"Fix your endpoint, then re-enable it with <code>PUT /api/v1/webhook</code>. The events it missed are listed as failed in " +
				"<code>GET /api/v1/webhook/deliveries</code>; send each again with <code>POST /api/v1/webhook/deliveries/{id}/redeliver</code>.",

			"n_key_revoked": "🗑 Your API key was <b>revoked</b> by the operator of this service on %s: every request with it now gets 401.\n\n" +
				"Send /api for a new key and put it into your integration. If you did not expect this, contact the operator of this service first.",

			// Business errors (shop.Error.Key), arguments in the shop's order.
			"quantity_range":       "The quantity must be between %d and %d.",
			"months_allowed":       "The months must be 3, 6 or 12.",
			"username_required":    "A recipient username is required.",
			"username_format":      "A username is 5–32 characters of letters, digits and _, starting with a letter.",
			"recipient_not_found":  "@%s cannot receive Telegram %s. Check the username.",
			"provider_unavailable": "Delivery is unavailable right now, so no order was taken. Please try again later.",
			"rate_unavailable":     "The TON/USD rate is unavailable right now. Please try again in a minute.",
			"partner_limit":        "New accounts cannot be opened right now (the service has its maximum of %d partner addresses). Please contact the operator.",
			"insufficient_balance": "Your balance %s is less than the price %s.",
			"not_found":            "Not found.",
			"idempotency_reused":   "This button was already used for another order.",
			"not_cancellable":      "This order can no longer be cancelled.",
		},
		langID: {
			"start": "👋 <b>The Open Money</b> menjual Telegram Stars dan Telegram Premium dengan TON.\n\n" +
				"<b>Beli di chat ini</b>\n" +
				"/stars — Stars untuk username mana pun, mis. <code>/stars pandus 100</code>\n" +
				"/premium — Premium, mis. <code>/premium pandus 3</code>\n" +
				"/orders — order terakhir Anda\n" +
				"/balance — saldo dan alamat top-up pribadi Anda\n\n" +
				"<b>Untuk developer</b>\n" +
				"/api — kunci API Anda untuk API mitra (<code>/api new</code> menggantinya, <code>/api revoke</code> mencabutnya)\n\n" +
				"Anda membayar dengan transfer TON biasa (atau USD₮ di TON bila ditawarkan); saya kabari saat pembayaran masuk dan saat order terkirim.",
			"help":         "Perintah yang saya pahami:\n/stars — beli Stars\n/premium — beli Premium\n/orders — order terakhir\n/balance — saldo dan alamat top-up\n/api — kunci API\n/start — apa yang dilakukan bot ini",
			"private_only": "Saya hanya bekerja di chat pribadi. Buka chat langsung dengan saya dan kirim /start.",
			"internal":     "Terjadi kesalahan di sisi kami. Silakan coba lagi sebentar lagi.",

			"key_issued": "🔑 Kunci API Anda:\n\n<code>%s</code>\n\n" +
				"⚠️ <b>Rahasiakan.</b> Siapa pun yang memegangnya bisa membuat order dan memakai saldo Anda. " +
				"Kunci hanya ditampilkan sekali ini: simpan sekarang. Jika bocor, kirim /api new untuk menggantinya.\n\n" +
				"Pakai sebagai <code>Authorization: Bearer osk_…</code>.",
			"key_info": "🔑 Kunci API aktif Anda: <code>%s…</code> (hanya awalannya; kunci lengkap tidak pernah ditampilkan lagi)\n" +
				"Dibuat: %s\nTerakhir dipakai: %s",
			"key_never_used":  "belum pernah",
			"btn_rotate":      "🔄 Ganti",
			"btn_revoke":      "🗑 Cabut",
			"btn_revoke_yes":  "Ya, cabut",
			"btn_keep":        "Simpan",
			"key_revoke_ask":  "Cabut kunci <code>%s…</code>? Semua yang memakainya langsung mendapat 401.",
			"key_revoked":     "🗑 Kunci dicabut: tidak berlaku lagi. Kirim /api untuk kunci baru.",
			"key_rotated":     "🔄 Kunci <code>%s…</code> diganti: tidak berlaku lagi. Kunci baru menyusul.",
			"key_kept":        "Baik, kunci tetap aktif.",
			"key_none":        "Anda tidak punya kunci API aktif. Kirim /api untuk mendapatkannya.",
			"key_changed":     "Kunci ini sudah diganti atau dicabut; tidak ada yang diubah. Kirim /api untuk melihat kunci saat ini.",
			"api_usage":       "/api — lihat kunci Anda (atau dapatkan)\n/api new — ganti kunci\n/api revoke — cabut kunci",
			"stars_usage":     "Kirim <code>/stars username jumlah</code>, mis. <code>/stars pandus 100</code>, atau cukup /stars untuk memilih.",
			"premium_usage":   "Kirim <code>/premium username bulan</code>, mis. <code>/premium pandus 3</code>, atau cukup /premium untuk memilih.",
			"quantity_number": "Jumlah harus bilangan bulat, mis. <code>/stars pandus 100</code>.",
			"months_number":   "Bulan harus 3, 6 atau 12, mis. <code>/premium pandus 3</code>.",
			"pick_stars":      "⭐ Berapa Stars?",
			"pick_months":     "💎 Berapa bulan Telegram Premium?",
			"ask_username":    "Untuk siapa? Balas dengan username Telegram, mis. <code>@pandus</code>.",
			"ask_again":       "Balas dengan username lain, atau /start untuk berhenti.",
			"flow_expired":    "Pilihan itu sudah kedaluwarsa. Mulai lagi dengan /stars atau /premium.",
			"what_stars":      "%d Stars untuk @%s",
			"what_premium":    "%d bulan Telegram Premium untuk @%s",
			"quote":           "🧾 <b>%s</b>\n\nHarga: <b>%s TON</b> (%s USD)\nKurs: 1 TON = %s USD, sudah termasuk biaya %s%%.\n\nKonfirmasi untuk mendapatkan detail pembayaran.",
			"quote_usdt":      "🧾 <b>%s</b>\n\nHarga: <b>%s TON</b> atau <b>%s USDT</b> (%s USD)\nKurs: 1 TON = %s USD, 1 USDT = %s USD, sudah termasuk biaya %s%%.\n\nPilih cara bayar untuk mendapatkan detail pembayaran.",
			"btn_confirm":     "✅ Konfirmasi",
			"btn_pay_ton":     "💎 Bayar %s TON",
			"btn_pay_usdt":    "💵 Bayar %s USDT",
			"btn_pay":         "💎 Bayar",
			"btn_app_orders":  "🧾 Buka pesanan saya",
			"btn_cancel":      "✖️ Batal",
			"cancelled":       "Dibatalkan. Tidak ada yang dipesan.",
			"order_created":   "✅ Order #%d dibuat; detail pembayaran di bawah.",
			"already_created": "Order ini sudah dibuat.",
			"stale_button":    "Tombol ini sudah kedaluwarsa.",
			"payment": "🧾 <b>Order #%d</b>: %s\n\n" +
				"Kirim tepat <b>%s TON</b>\n" +
				"ke: <code>%s</code>\n" +
				"dengan komentar (memo): <code>%s</code>\n\n" +
				"Tautan pembayaran: <code>%s</code>\n\n" +
				"Bayar sebelum %s (%d menit). Tanpa memo, pembayaran tidak dapat dicocokkan dengan order.",
			"payment_usdt": "🧾 <b>Order #%d</b>: %s\n\n" +
				"Kirim tepat <b>%s</b> (%s USD) dalam USD₮ di TON\n" +
				"ke: <code>%s</code>\n" +
				"dengan komentar (memo): <code>%s</code>\n\n" +
				"Tautan pembayaran: <code>%s</code>\n\n" +
				"Bayar sebelum %s (%d menit). Tanpa memo, pembayaran tidak dapat dicocokkan dengan order. " +
				"Hanya USD₮ di TON yang dihitung (jetton master <code>%s</code>): USDT di jaringan lain atau token lain tidak pernah dikreditkan.",
			"qr_caption":             "Pindai untuk membayar %s, memo %s",
			"orders_none":            "Anda belum punya order. Coba /stars atau /premium.",
			"orders_head":            "🧾 <b>Order terakhir Anda</b>",
			"order_pending":          "memo <code>%s</code>, bayar sebelum %s",
			"balance":                "💰 Saldo: <b>%s TON</b>\n\nAlamat top-up Anda (khusus untuk Anda):\n<code>%s</code>\nTON apa pun yang dikirim ke sini masuk ke saldo Anda — saldo yang sama dengan kunci API Anda.",
			"balance_usdt":           "💰 Saldo: <b>%s TON</b> dan <b>%s USDT</b>\n\nAlamat top-up Anda (khusus untuk Anda):\n<code>%s</code>\nTON atau USD₮ di TON yang dikirim ke sini masuk ke saldo Anda dalam mata uang itu — saldo yang sama dengan kunci API Anda.",
			"balance_usdt_off":       "💰 Saldo: <b>%s TON</b> dan <b>%s USDT</b>\n\nAlamat top-up Anda (khusus untuk Anda):\n<code>%s</code>\nTON apa pun yang dikirim ke sini masuk ke saldo Anda — saldo yang sama dengan kunci API Anda. USDT sedang tidak diterima; saldo USDT Anda tetap seperti adanya.",
			"ledger_head":            "<b>Mutasi terakhir</b>",
			"ledger_none":            "Belum ada mutasi.",
			"topup_caption":          "Alamat top-up Anda: %s",
			"status_pending_payment": "menunggu pembayaran",
			"status_paid":            "dibayar",
			"status_processing":      "sedang dikirim",
			"status_completed":       "terkirim",
			"status_failed":          "gagal",
			"status_refunded":        "dikembalikan",
			"status_expired":         "kedaluwarsa",
			"status_cancelled":       "dibatalkan",
			"ledger_topup":           "top-up",
			"ledger_order_payment":   "pembayaran order",
			"ledger_overpayment":     "kelebihan bayar",
			"ledger_late_payment":    "pembayaran terlambat",
			"ledger_refund":          "pengembalian dana",
			"ledger_adjustment":      "penyesuaian",
			"ledger_wrong_currency":  "dibayar dengan mata uang lain",

			"n_paid":           "✅ Pembayaran diterima untuk order #%d (%s): %s. Sedang dikirim…",
			"n_completed":      "🎉 Order #%d terkirim: %s (dibayar %s).",
			"n_refunded":       "↩️ Order #%d (%s) tidak dapat dikirim. %s dikembalikan ke saldo Anda (/balance).",
			"n_reason":         "Alasan: %s",
			"n_reason_code":    "Alasan: %s (<code>%s</code>)",
			"n_expired":        "⌛ Order #%d (%s) kedaluwarsa tanpa pembayaran.",
			"n_expired_credit": "⌛ Order #%d (%s) kedaluwarsa; %s yang diterima masuk ke saldo Anda (/balance).",
			"n_cancelled":      "Order #%d (%s) dibatalkan.",
			"n_topup":          "💰 Top-up diterima: +%s. Saldo: %s.",
			"n_other":          "Order #%d (%s) sekarang: %s.",
			"n_webhook_disabled": "⚠️ Webhook Anda <b>dinonaktifkan</b>: semua pengiriman ke sana gagal selama 3 hari, jadi tidak ada event baru yang diantrekan.\n\n" +
				"Perbaiki endpoint Anda, lalu aktifkan lagi dengan <code>PUT /api/v1/webhook</code>. Event yang terlewat tercatat gagal di " +
				"<code>GET /api/v1/webhook/deliveries</code>; kirim ulang masing-masing dengan <code>POST /api/v1/webhook/deliveries/{id}/redeliver</code>.",

			"n_key_revoked": "🗑 Kunci API Anda <b>dicabut</b> oleh operator layanan ini pada %s: setiap permintaan dengan kunci itu kini mendapat 401.\n\n" +
				"Kirim /api untuk kunci baru dan pasang di integrasi Anda. Jika Anda tidak menduga ini, hubungi dulu operator layanan ini.",

			"quantity_range":       "Jumlah harus antara %d dan %d.",
			"months_allowed":       "Bulan harus 3, 6 atau 12.",
			"username_required":    "Username penerima wajib diisi.",
			"username_format":      "Username terdiri dari 5–32 huruf, angka dan _, diawali huruf.",
			"recipient_not_found":  "@%s tidak dapat menerima Telegram %s. Periksa username-nya.",
			"provider_unavailable": "Pengiriman sedang tidak tersedia, jadi order tidak dibuat. Silakan coba lagi nanti.",
			"rate_unavailable":     "Kurs TON/USD sedang tidak tersedia. Silakan coba lagi sebentar lagi.",
			"partner_limit":        "Akun baru tidak dapat dibuka saat ini (layanan sudah mencapai batas %d alamat partner). Silakan hubungi operator.",
			"insufficient_balance": "Saldo Anda %s kurang dari harga %s.",
			"not_found":            "Tidak ditemukan.",
			"idempotency_reused":   "Tombol ini sudah dipakai untuk order lain.",
			"not_cancellable":      "Order ini tidak dapat dibatalkan lagi.",
		},
	}
}
