package checkout

import (
	"net/http"
	"strconv"
	"strings"
)

// Languages of the pages: English (the fallback) and Indonesian.
const (
	langEN = "en"
	langID = "id"
)

// langNames are the language switch's labels, in the page's order.
var langNames = []struct{ Code, Name string }{{langEN, "English"}, {langID, "Bahasa Indonesia"}}

// pickLang chooses the page language: ?lang= when it names one we speak,
// else the best of Accept-Language by q-value, else English.
func pickLang(r *http.Request) string {
	if l, ok := known(r.URL.Query().Get("lang")); ok {
		return l
	}
	return fromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// known maps a language tag (id, id-ID, in, en-GB…) to one we speak.
func known(tag string) (string, bool) {
	tag = strings.ToLower(strings.TrimSpace(tag))
	primary, _, _ := strings.Cut(tag, "-")
	switch primary {
	case langID, "in": // "in" is the withdrawn code some systems still send
		return langID, true
	case langEN:
		return langEN, true
	}
	return "", false
}

// fromAcceptLanguage returns the spoken language the header ranks highest
// (ties keep the header's order), English when it names none.
func fromAcceptLanguage(h string) string {
	best, bestQ := langEN, -1.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				continue
			}
			q = f
		}
		if l, ok := known(tag); ok && q > 0 && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// texts is the catalogue: language → key → text. Placeholders are {name}
// (filled by fill); the pages escape everything they insert.
var texts = map[string]map[string]string{
	langEN: {
		"title":              "Pay for your order",
		"stars":              "{n} Telegram Stars",
		"premium":            "Telegram Premium, {n} months",
		"for":                "for",
		"sandbox":            "Sandbox: a simulated TON chain, no real money.",
		"testnet":            "TON testnet: test coins only.",
		"pay_before":         "Pay before",
		"left":               "{t} left",
		"pay_wallet":         "Pay with a TON wallet",
		"open_wallet":        "Open in wallet",
		"scan":               "Scan with a TON wallet",
		"qr_alt":             "QR code of the payment link",
		"manual":             "Or send it by hand",
		"amount":             "Amount",
		"address":            "To address",
		"memo":               "Comment (memo)",
		"memo_warning":       "Send the exact comment above with your transfer. Without it we cannot tell your payment belongs to this order, and the order will not be delivered.",
		"usdt_warning":       "Send USD₮ on TON only: USDT on another network, or any other token, is never credited. The USD₮ jetton master is",
		"copy":               "Copy",
		"copied":             "Copied",
		"noscript":           "This page updates itself when JavaScript is on; without it, reload the page to see the payment status.",
		"my_orders":          "My orders",
		"lang":               "Language",
		"footer":             "Payments in TON by The Open Money. Keep this page's address private: it shows this order.",
		"usd_approx":         "≈ ${usd}",
		"waiting":            "Waiting for your payment",
		"waiting_d":          "Send {due} with the comment {memo}.",
		"partial":            "Partly paid",
		"partial_d":          "{received} received; {due} is still due. Send the rest with the same comment.",
		"paid":               "Payment received",
		"paid_d":             "Delivering {what} to @{to}…",
		"completed":          "Done",
		"completed_d":        "{what} delivered to @{to}.",
		"expired":            "This order has expired",
		"expired_d":          "Do not pay it any more. A payment that arrives after the deadline is not lost: it is credited to the balance of whoever created the order (the seller, or your own balance if you ordered in our bot). Ask them for a new order.",
		"cancelled":          "This order was cancelled",
		"cancelled_d":        "Do not pay it. A payment that still arrives is credited to the balance of whoever created the order (the seller, or your balance in our bot).",
		"refunded":           "Delivery failed; refunded",
		"refunded_d":         "{what} could not be delivered to @{to}. The payment was credited back to the balance of whoever created the order (the seller, or your balance in our bot).",
		"failed":             "Delivery failed",
		"failed_d":           "{what} could not be delivered to @{to}. The payment is being credited back to whoever created the order.",
		"return_shop":        "Return to the shop",
		"back_shop":          "Back to the shop",
		"tc_loading":         "Opening your wallet…",
		"tc_confirm":         "Confirm the payment in your wallet.",
		"tc_sent":            "Sent. Waiting for the TON network to confirm it…",
		"tc_cancelled":       "Nothing was sent.",
		"tc_network":         "Your wallet is on another TON network than this order.",
		"tc_failed":          "The wallet could not be opened. Use the QR code or send it by hand.",
		"not_found":          "Payment link not found",
		"not_found_d":        "This link is not valid, or was copied incompletely. Ask whoever sent it for the link again.",
		"busy":               "Too many requests",
		"busy_d":             "Please wait {n} seconds and reload the page.",
		"orders_title":       "My orders",
		"orders_none":        "No orders yet. Order Stars or Premium in the bot.",
		"orders_tg":          "Open this page from the bot in Telegram to see your orders.",
		"orders_denied":      "Telegram's sign-in data for this page is missing, invalid or too old. Close it and open it again from the bot.",
		"orders_error":       "The orders could not be loaded. Try again in a moment.",
		"orders_pay":         "Pay",
		"st_pending_payment": "waiting for payment",
		"st_paid":            "paid",
		"st_processing":      "delivering",
		"st_completed":       "delivered",
		"st_failed":          "failed",
		"st_refunded":        "refunded",
		"st_expired":         "expired",
		"st_cancelled":       "cancelled",
	},
	langID: {
		"title":              "Bayar pesanan Anda",
		"stars":              "{n} Telegram Stars",
		"premium":            "Telegram Premium {n} bulan",
		"for":                "untuk",
		"sandbox":            "Sandbox: jaringan TON simulasi, bukan uang sungguhan.",
		"testnet":            "TON testnet: hanya koin uji coba.",
		"pay_before":         "Bayar sebelum",
		"left":               "sisa {t}",
		"pay_wallet":         "Bayar dengan dompet TON",
		"open_wallet":        "Buka di dompet",
		"scan":               "Pindai dengan dompet TON",
		"qr_alt":             "Kode QR tautan pembayaran",
		"manual":             "Atau kirim secara manual",
		"amount":             "Jumlah",
		"address":            "Ke alamat",
		"memo":               "Komentar (memo)",
		"memo_warning":       "Sertakan komentar di atas persis seperti tertulis pada transfer Anda. Tanpa komentar itu kami tidak bisa mengenali pembayaran Anda untuk pesanan ini, dan pesanan tidak akan dikirim.",
		"usdt_warning":       "Kirim hanya USD₮ di TON: USDT di jaringan lain, atau token lain, tidak pernah dikreditkan. Jetton master USD₮ adalah",
		"copy":               "Salin",
		"copied":             "Tersalin",
		"noscript":           "Halaman ini diperbarui otomatis jika JavaScript aktif; tanpa JavaScript, muat ulang halaman untuk melihat status pembayaran.",
		"my_orders":          "Pesanan saya",
		"lang":               "Bahasa",
		"footer":             "Pembayaran TON oleh The Open Money. Jangan bagikan alamat halaman ini: halaman ini menampilkan pesanan Anda.",
		"usd_approx":         "≈ ${usd}",
		"waiting":            "Menunggu pembayaran Anda",
		"waiting_d":          "Kirim {due} dengan komentar {memo}.",
		"partial":            "Dibayar sebagian",
		"partial_d":          "{received} diterima; kurang {due}. Kirim sisanya dengan komentar yang sama.",
		"paid":               "Pembayaran diterima",
		"paid_d":             "Sedang mengirim {what} ke @{to}…",
		"completed":          "Selesai",
		"completed_d":        "{what} sudah terkirim ke @{to}.",
		"expired":            "Pesanan ini sudah kedaluwarsa",
		"expired_d":          "Jangan bayar lagi. Pembayaran yang tiba setelah batas waktu tidak hilang: dana masuk ke saldo pembuat pesanan (penjual, atau saldo Anda sendiri jika memesan lewat bot kami). Mintalah pesanan baru.",
		"cancelled":          "Pesanan ini dibatalkan",
		"cancelled_d":        "Jangan bayar. Pembayaran yang masih tiba masuk ke saldo pembuat pesanan (penjual, atau saldo Anda di bot kami).",
		"refunded":           "Pengiriman gagal; dana dikembalikan",
		"refunded_d":         "{what} tidak bisa dikirim ke @{to}. Pembayaran dikembalikan ke saldo pembuat pesanan (penjual, atau saldo Anda di bot kami).",
		"failed":             "Pengiriman gagal",
		"failed_d":           "{what} tidak bisa dikirim ke @{to}. Pembayaran sedang dikembalikan ke pembuat pesanan.",
		"return_shop":        "Kembali ke toko",
		"back_shop":          "Kembali ke halaman toko",
		"tc_loading":         "Membuka dompet Anda…",
		"tc_confirm":         "Konfirmasi pembayaran di dompet Anda.",
		"tc_sent":            "Terkirim. Menunggu konfirmasi jaringan TON…",
		"tc_cancelled":       "Tidak ada yang dikirim.",
		"tc_network":         "Dompet Anda memakai jaringan TON yang berbeda dengan pesanan ini.",
		"tc_failed":          "Dompet tidak bisa dibuka. Gunakan kode QR atau kirim secara manual.",
		"not_found":          "Tautan pembayaran tidak ditemukan",
		"not_found_d":        "Tautan ini tidak valid atau tidak tersalin lengkap. Mintalah tautannya lagi kepada pengirimnya.",
		"busy":               "Terlalu banyak permintaan",
		"busy_d":             "Tunggu {n} detik lalu muat ulang halaman.",
		"orders_title":       "Pesanan saya",
		"orders_none":        "Belum ada pesanan. Pesan Stars atau Premium di bot.",
		"orders_tg":          "Buka halaman ini dari bot di Telegram untuk melihat pesanan Anda.",
		"orders_denied":      "Data masuk Telegram untuk halaman ini tidak ada, tidak valid, atau sudah terlalu lama. Tutup lalu buka lagi dari bot.",
		"orders_error":       "Pesanan tidak bisa dimuat. Coba lagi sebentar lagi.",
		"orders_pay":         "Bayar",
		"st_pending_payment": "menunggu pembayaran",
		"st_paid":            "dibayar",
		"st_processing":      "sedang dikirim",
		"st_completed":       "terkirim",
		"st_failed":          "gagal",
		"st_refunded":        "dikembalikan",
		"st_expired":         "kedaluwarsa",
		"st_cancelled":       "dibatalkan",
	},
}

// text returns key in lang (English when missing) with {name} placeholders
// filled from pairs: name, value, name, value…
func text(lang, key string, pairs ...string) string {
	s, ok := texts[lang][key]
	if !ok {
		s = texts[langEN][key]
	}
	if len(pairs) == 0 {
		return s
	}
	r := make([]string, 0, len(pairs))
	for i := 0; i+1 < len(pairs); i += 2 {
		r = append(r, "{"+pairs[i]+"}", pairs[i+1])
	}
	return strings.NewReplacer(r...).Replace(s)
}
