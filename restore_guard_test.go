package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"

	"github.com/theopenmoney/openmoney/internal/fragmentsim"
	"github.com/theopenmoney/openmoney/internal/simchain"
	"github.com/theopenmoney/openmoney/store"
)

// botAPI speaks the Telegram Bot API's few methods the service calls with
// no user talking to it: getMe, getUpdates (an empty long poll), and
// sendMessage, which it records (the operators' alerts).
type botAPI struct {
	mu   sync.Mutex
	sent []string // "chat_id: text"
}

func (b *botAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	_ = r.ParseMultipartForm(1 << 20)
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "getMe":
		fmt.Fprint(w, `{"ok":true,"result":{"id":42,"is_bot":true,"first_name":"openmoney","username":"openmoney_test_bot"}}`)
	case "getUpdates":
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, `{"ok":true,"result":[]}`)
	case "sendMessage":
		chat := r.FormValue("chat_id")
		b.mu.Lock()
		b.sent = append(b.sent, chat+": "+r.FormValue("text"))
		n := len(b.sent)
		b.mu.Unlock()
		fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":1,"chat":{"id":%s,"type":"private"},"text":"ok"}}`, n, chat)
	default:
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	}
}

func (b *botAPI) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.sent...)
}

// walletExternals counts the messages the service wallet has run on the
// simulated chain (its external-in transactions) and the payments they
// carried.
func walletExternals(t *testing.T, chain *simchain.Chain, wallet string) (msgs, payments int) {
	t.Helper()
	txs, err := chain.Transactions(wallet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range txs {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn {
			continue
		}
		msgs++
		if tx.IO.Out != nil {
			list, err := tx.IO.Out.ToSlice()
			if err != nil {
				t.Fatal(err)
			}
			payments += len(list)
		}
	}
	return msgs, payments
}

// TestRestoreOfAnOlderBackupNeverPaysTwice: the store is backed up
// (openmoney backup) while orders wait for their payment; the customers
// pay and the service delivers them, paying Fragment from the service
// wallet in a batch; then the old backup is restored (openmoney restore,
// which warns) and the service started on it. Its listener sees the
// customers' payments again, so the orders are paid and not delivered in
// the restored store, without a record of the batch that paid Fragment for
// them. The wallet guard sees the wallet's seqno on chain past the
// records: every delivery is held (wallet_unrecorded in /health), the
// operators are alerted, and nothing is paid — until the operator
// reconciles through the admin API; the orders named are then completed,
// still without a second payment.
func TestRestoreOfAnOlderBackupNeverPaysTwice(t *testing.T) {
	const orders = 4
	const adminToken = "restore-guard-admin-token"
	const operator = 777001
	dir := t.TempDir()
	seed, keys, chainPath, chain := simWallet(t, dir, 200*time.Millisecond)
	fs, err := fragmentsim.New(fragmentsim.Options{Latency: 20 * time.Millisecond, RateLimit: 1000, Address: crashTaker.String()})
	if err != nil {
		t.Fatal(err)
	}
	fsrv := httptest.NewServer(fs)
	defer fsrv.Close()
	tg := &botAPI{}
	tsrv := httptest.NewServer(tg)
	defer tsrv.Close()

	dbPath := filepath.Join(dir, "openmoney.db")
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgText := fmt.Sprintf(`http: {listen: "127.0.0.1:0"}
store: {path: %q}
ton: {network: testnet, wallet_version: v5r1, wallet_seed: %q}
fulfillment: {provider: fragment, fragment: {base_url: %q, hash: %q, cookies: %q}}
telegram: {token: "123456:restore-guard", api_url: %q, operators: [%d]}
admin: {token: %q}
api: {rate_limit: {per_second: 100000, burst: 100000}}
log: {level: info}
`, dbPath, strings.Join(seed, " "), fsrv.URL, fs.Hash(), fs.Cookies(), tsrv.URL, operator, adminToken)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	key := crashPartner(t, cfgPath)
	hc := &http.Client{Timeout: 10 * time.Second}
	wallet := keys.ServiceAddressRaw()

	// Orders acknowledged, not paid yet; the backup is taken now.
	c := startChild(t, cfgPath, simChainEnv+"="+chainPath)
	partner := &client{http: hc, base: c.base, key: key}
	ids := make([]int64, orders)
	users := map[int64]string{}
	var transfers []simchain.Transfer
	for i := range orders {
		user := fmt.Sprintf("restore_u%d", i)
		code, o, err := partner.do(context.Background(), "POST", "/orders/stars", map[string]any{"recipient_username": user, "quantity": 50 + i}, "k-"+user)
		if err != nil || code != 200 {
			t.Fatalf("order %s: %d %v", user, code, err)
		}
		amount, _ := strconv.ParseInt(o["price_nanoton"].(string), 10, 64)
		ids[i] = int64(o["id"].(float64))
		users[ids[i]] = user
		transfers = append(transfers, simchain.Transfer{From: crashPayer.StringRaw(), To: o["payment_address"].(string),
			AmountNano: amount, Body: simchain.Comment(o["payment_memo"].(string))})
	}
	c.stop(t)
	backup := filepath.Join(dir, "before-the-batch.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"backup", "-config", cfgPath, "-to", backup}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("openmoney backup: %v\n%s", err, out.String())
	}

	// The customers pay; the service delivers, paying Fragment in a batch.
	c = startChild(t, cfgPath, simChainEnv+"="+chainPath)
	partner.base = c.base
	if err := chain.Send(transfers...); err != nil {
		t.Fatal(err)
	}
	waitFinal(t, partner, ids, time.Minute)
	c.stop(t)
	sentMsgs, sentPayments := walletExternals(t, chain, wallet)
	if sentMsgs == 0 || sentPayments != orders {
		t.Fatalf("before the restore the wallet ran %d messages with %d payments; want some, carrying %d", sentMsgs, sentPayments, orders)
	}

	// The old backup goes back in place; restore warns.
	out.Reset()
	if err := run(context.Background(), []string{"restore", "-config", cfgPath, "-from", backup}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("openmoney restore: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "warning: Fragment payments the service wallet sent after this backup was taken are not in it") ||
		!strings.Contains(out.String(), "/admin/payer/reconcile") {
		t.Errorf("restore printed no warning about the wallet's payments:\n%s", out.String())
	}

	// Started on it: the orders are paid again by the listener, and every
	// delivery is held; the operators are told; nothing leaves the wallet.
	c = startChild(t, cfgPath, simChainEnv+"="+chainPath)
	partner.base = c.base
	admin := &client{http: hc, base: c.base, key: adminToken}
	deadline := time.Now().Add(time.Minute)
	for {
		code, h, err := (&client{http: hc, base: c.base}).do(context.Background(), "GET", "/health", nil, "")
		held, _ := h["deliveries_held"].(map[string]any)
		byReason, _ := held["by_reason"].(map[string]any)
		if err == nil && code == 200 && byReason["wallet_unrecorded"] == float64(orders) {
			if s, _ := held["wallet_unrecorded"].(string); !strings.Contains(s, "restored from a backup") {
				t.Errorf("health's wallet_unrecorded says %q", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries not held for the wallet's unrecorded messages a minute after the start: %d %v %v", code, h["deliveries_held"], err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	alerted := func() bool {
		for _, m := range tg.messages() {
			if strings.HasPrefix(m, strconv.Itoa(operator)+": ") && strings.Contains(m, "wallet sent messages this store does not know") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(time.Minute); !alerted(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no operator alert a minute after the hold; the bot sent %q", tg.messages())
		}
	}
	code, st, err := admin.do(context.Background(), "GET", "/admin/payer", nil, "")
	if err != nil || code != 200 {
		t.Fatalf("GET /admin/payer: %d %v", code, err)
	}
	chainSeqno := st["seqno_on_chain"].(float64)
	cands, _ := st["candidates"].([]any)
	if int(chainSeqno) != sentMsgs || st["seqno_recorded"].(float64) != 0 || len(cands) != orders {
		t.Fatalf("GET /admin/payer: %v; want seqno %d on chain, 0 recorded, %d candidates", st, sentMsgs, orders)
	}
	if m, p := walletExternals(t, chain, wallet); m != sentMsgs || p != sentPayments {
		t.Fatalf("while held the wallet ran %d messages with %d payments; before, %d with %d", m, p, sentMsgs, sentPayments)
	}

	// The operator looked: the batch paid for all of them.
	code, res, err := admin.do(context.Background(), "POST", "/admin/payer/reconcile",
		map[string]any{"wallet_seqno": chainSeqno, "delivered_orders": ids, "note": "explorer: the wallet's message paid every order", "operator": "test"}, "")
	if err != nil || code != 200 {
		t.Fatalf("POST /admin/payer/reconcile: %d %v %v", code, res, err)
	}
	waitFinal(t, partner, ids, time.Minute)
	for _, id := range ids {
		_, o, _ := partner.do(context.Background(), "GET", "/orders/"+strconv.FormatInt(id, 10), nil, "")
		if o["status"] != "completed" {
			t.Errorf("order %d is %v after the reconciliation", id, o["status"])
		}
	}
	time.Sleep(time.Second) // a payment would have left by now
	c.stop(t)
	if m, p := walletExternals(t, chain, wallet); m != sentMsgs || p != sentPayments {
		t.Fatalf("after the reconciliation the wallet ran %d messages with %d payments; before the restore, %d with %d", m, p, sentMsgs, sentPayments)
	}
	db, err := store.OpenBolt(dbPath, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	completed, _ := verifyBurst(t, db, chain, wallet, fs, ids, users)
	db.Close()
	if completed != orders {
		t.Errorf("%d of %d orders completed", completed, orders)
	}
	js, _ := json.Marshal(res)
	t.Logf("restored a backup from before a %d-message batch: every delivery held and the operator alerted, 0 payments made again; reconciled: %s", sentMsgs, js)
}

// waitFinal waits until every order in ids is completed or refunded.
func waitFinal(t *testing.T, c *client, ids []int64, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); !allFinal(t, c, ids); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("orders not finished within %s", within)
		}
	}
}
