package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// fakeTG speaks the Telegram Bot API (the subset the bot uses) over HTTP:
// getUpdates serves scripted updates (long polling with its timeout), the
// sending methods are recorded, and failures can be scripted per method.
type fakeTG struct {
	t     testing.TB
	srv   *httptest.Server
	token string

	mu         sync.Mutex
	updates    []map[string]any
	nextUpdate int64
	nextMsg    int
	calls      []call
	failures   map[string][]failure
	down       bool
	raw        []string      // every request the bot made: method, query and body
	changed    chan struct{} // closed on every change
}

// call is one request the bot made (other than getMe/getUpdates).
type call struct {
	Method  string
	ChatID  int64
	MsgID   int    // the sent message's id, or the edited one
	Text    string // text, or caption of a photo
	Markup  string // reply_markup JSON
	Photo   []byte
	CbID    string // answerCallbackQuery: callback_query_id; CbText: its text
	CbText  string
	At      time.Time
	ErrCode int // non-zero: the fake answered this error
}

type failure struct {
	code       int
	retryAfter int
	chat       int64 // only a call to this chat fails (0: any)
}

// tgUser is a Telegram user of the tests.
type tgUser struct {
	ID       int64
	Name     string
	Lang     string
	Username string
}

const fakeToken = "123456:TEST-token-never-logged"

func newFakeTG(t testing.TB) *fakeTG {
	f := &fakeTG{t: t, token: fakeToken, failures: map[string][]failure{}, changed: make(chan struct{})}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTG) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeTG) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// failNext makes the next n calls of method fail with code (429: retryAfter seconds).
func (f *fakeTG) failNext(method string, code, retryAfter, n int) {
	f.failNextTo(method, 0, code, retryAfter, n)
}

// failNextTo is failNext for calls to one chat only (0: any chat); calls
// to other chats go through meanwhile.
func (f *fakeTG) failNextTo(method string, chat int64, code, retryAfter, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failures[method] = append(f.failures[method], failure{code: code, retryAfter: retryAfter, chat: chat})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeTG) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/bot"+f.token+"/")
	if !ok {
		writeJSON(w, 404, map[string]any{"ok": false, "error_code": 404, "description": "Not Found"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	down := f.down
	f.raw = append(f.raw, method+" "+r.URL.RawQuery+" "+string(body))
	f.mu.Unlock()
	if down {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	// Parameterless methods (getMe) come as an empty multipart body, which
	// Telegram accepts; so does the fake.
	if err := r.ParseMultipartForm(32 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) && !strings.Contains(err.Error(), "EOF") {
		writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: " + err.Error()})
		return
	}
	switch method {
	case "getMe":
		writeJSON(w, 200, map[string]any{"ok": true, "result": map[string]any{"id": 123456, "is_bot": true,
			"first_name": "The Open Money", "username": "OpenMoneyBot"}})
	case "getUpdates":
		f.getUpdates(w, r)
	default:
		f.record(w, r, method)
	}
}

func (f *fakeTG) getUpdates(w http.ResponseWriter, r *http.Request) {
	offset, _ := strconv.ParseInt(r.FormValue("offset"), 10, 64)
	timeout, _ := strconv.Atoi(r.FormValue("timeout"))
	deadline := time.NewTimer(time.Duration(timeout) * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		var pending []map[string]any
		for _, u := range f.updates {
			if u["update_id"].(int64) >= offset {
				pending = append(pending, u)
			}
		}
		f.updates = pending // confirmed ones are gone, as in Telegram
		ch := f.changed
		f.mu.Unlock()
		if len(pending) > 0 {
			writeJSON(w, 200, map[string]any{"ok": true, "result": pending})
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			writeJSON(w, 200, map[string]any{"ok": true, "result": []any{}})
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeTG) record(w http.ResponseWriter, r *http.Request, method string) {
	chatID, _ := strconv.ParseInt(r.FormValue("chat_id"), 10, 64)
	c := call{Method: method, ChatID: chatID, Text: r.FormValue("text"), Markup: r.FormValue("reply_markup"),
		CbID: r.FormValue("callback_query_id"), CbText: r.FormValue("text"), At: time.Now()}
	if method == "sendPhoto" {
		c.Text = r.FormValue("caption")
		if r.MultipartForm != nil && len(r.MultipartForm.File["photo"]) == 1 {
			fh, err := r.MultipartForm.File["photo"][0].Open()
			if err == nil {
				c.Photo, _ = io.ReadAll(fh)
				fh.Close()
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notifyLocked()
	if i := slices.IndexFunc(f.failures[method], func(fl failure) bool { return fl.chat == 0 || fl.chat == chatID }); i >= 0 {
		fs := f.failures[method]
		fl := fs[i]
		f.failures[method] = slices.Delete(slices.Clone(fs), i, i+1)
		c.ErrCode = fl.code
		f.calls = append(f.calls, c)
		body := map[string]any{"ok": false, "error_code": fl.code, "description": http.StatusText(fl.code)}
		if fl.code == 429 {
			body["description"] = fmt.Sprintf("Too Many Requests: retry after %d", fl.retryAfter)
			body["parameters"] = map[string]any{"retry_after": fl.retryAfter}
		}
		writeJSON(w, fl.code, body)
		return
	}
	var result any = true
	switch method {
	case "sendMessage", "sendPhoto":
		f.nextMsg++
		c.MsgID = f.nextMsg
		result = f.message(c)
	case "editMessageText", "editMessageReplyMarkup":
		c.MsgID, _ = strconv.Atoi(r.FormValue("message_id"))
		result = f.message(c)
	case "deleteMessage":
		c.MsgID, _ = strconv.Atoi(r.FormValue("message_id"))
	}
	f.calls = append(f.calls, c)
	writeJSON(w, 200, map[string]any{"ok": true, "result": result})
}

func chatObj(id int64) map[string]any {
	typ := "private"
	if id < 0 {
		typ = "group"
	}
	return map[string]any{"id": id, "type": typ}
}

// message is a call as the Message object Telegram returns.
func (f *fakeTG) message(c call) map[string]any {
	return map[string]any{"message_id": c.MsgID, "date": time.Now().Unix(), "chat": chatObj(c.ChatID),
		"from": map[string]any{"id": 123456, "is_bot": true, "first_name": "The Open Money", "username": "OpenMoneyBot"},
		"text": c.Text}
}

func (f *fakeTG) push(upd map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextUpdate++
	upd["update_id"] = f.nextUpdate
	f.updates = append(f.updates, upd)
	f.notifyLocked()
}

func (u tgUser) obj() map[string]any {
	m := map[string]any{"id": u.ID, "is_bot": false, "first_name": u.Name}
	if u.Lang != "" {
		m["language_code"] = u.Lang
	}
	if u.Username != "" {
		m["username"] = u.Username
	}
	return m
}

// say: u sends text in the private chat with the bot; it returns the
// message's id.
func (f *fakeTG) say(u tgUser, text string) int { return f.sayIn(u, u.ID, text) }

// sayIn: u sends text in chat (negative id = a group).
func (f *fakeTG) sayIn(u tgUser, chatID int64, text string) int {
	f.mu.Lock()
	f.nextMsg++
	id := f.nextMsg
	f.mu.Unlock()
	f.push(map[string]any{"message": map[string]any{"message_id": id, "date": time.Now().Unix(),
		"chat": chatObj(chatID), "from": u.obj(), "text": text}})
	return id
}

// sentAnywhere reports whether any request the bot made carried sub
// (in its method, query or body).
func (f *fakeTG) sentAnywhere(sub string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.raw {
		if strings.Contains(r, sub) {
			return true
		}
	}
	return false
}

// press: u presses the button with data under the bot's message msg.
func (f *fakeTG) press(u tgUser, msg call, data string) {
	f.mu.Lock()
	id := f.nextUpdate + 1000
	f.mu.Unlock()
	f.push(map[string]any{"callback_query": map[string]any{"id": "cb" + strconv.FormatInt(id, 10), "from": u.obj(),
		"chat_instance": "ci", "data": data, "message": f.message(msg)}})
}

// reset forgets the recorded calls.
func (f *fakeTG) reset() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func (f *fakeTG) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeTG) all() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeTG) dump() string {
	defer func() {}()
	var sb strings.Builder
	for i, c := range f.all() {
		fmt.Fprintf(&sb, "  %s %d %s chat=%d msg=%d err=%d text=%q markup=%s cb=%q\n", c.At.Format("05.000"), i, c.Method, c.ChatID, c.MsgID, c.ErrCode, c.Text, c.Markup, c.CbText)
	}
	return sb.String()
}

// wait returns the first call at index ≥ from matching pred, waiting for it.
func (f *fakeTG) wait(t testing.TB, from int, what string, pred func(call) bool) (call, int) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		calls, ch := append([]call(nil), f.calls...), f.changed
		f.mu.Unlock()
		for i := from; i < len(calls); i++ { // pred may call f's methods: no lock held
			if pred(calls[i]) {
				return calls[i], i
			}
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; calls:\n%s", what, f.dump())
		}
	}
}

// waitText waits for a successful sendMessage to chat containing sub.
func (f *fakeTG) waitText(t testing.TB, from int, chatID int64, sub string) call {
	t.Helper()
	c, _ := f.wait(t, from, fmt.Sprintf("a message to %d containing %q", chatID, sub), func(c call) bool {
		return c.Method == "sendMessage" && c.ErrCode == 0 && c.ChatID == chatID && strings.Contains(c.Text, sub)
	})
	return c
}

// waitMethod waits for a successful call of method to chat.
func (f *fakeTG) waitMethod(t testing.TB, from int, chatID int64, method string) call {
	t.Helper()
	c, _ := f.wait(t, from, method+" to "+strconv.FormatInt(chatID, 10), func(c call) bool {
		return c.Method == method && c.ErrCode == 0 && c.ChatID == chatID
	})
	return c
}

// count counts successful calls matching pred.
func (f *fakeTG) count(pred func(call) bool) int {
	n := 0
	for _, c := range f.all() {
		if pred(c) {
			n++
		}
	}
	return n
}

// buttons of a sent message's inline keyboard.
func buttons(t testing.TB, c call) []button {
	t.Helper()
	var kb keyboard
	if c.Markup == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(c.Markup), &kb); err != nil {
		t.Fatalf("reply_markup %q: %v", c.Markup, err)
	}
	var out []button
	for _, r := range kb.InlineKeyboard {
		out = append(out, r...)
	}
	return out
}

// buttonData returns the callback data of the button whose data starts with prefix.
func buttonData(t testing.TB, c call, prefix string) string {
	t.Helper()
	for _, b := range buttons(t, c) {
		if strings.HasPrefix(b.CallbackData, prefix) {
			return b.CallbackData
		}
	}
	t.Fatalf("no button %q under %q (markup %s)", prefix, c.Text, c.Markup)
	return ""
}

// harness is a real shop, the fake Telegram and the bot running between them.
type harness struct {
	env  *shoptest.Env
	tg   *fakeTG
	bot  *Bot
	logs *shoptest.LogBuffer
}

func newHarness(t *testing.T, opt shoptest.Options, prepare ...func(*shoptest.Env)) *harness {
	t.Helper()
	env := shoptest.New(t, opt)
	for _, fn := range prepare {
		fn(env)
	}
	env.Run(t)
	h := &harness{env: env, tg: newFakeTG(t), logs: &shoptest.LogBuffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := New(Options{Token: fakeToken, APIURL: h.tg.srv.URL, Shop: env.Shop, Log: log, PollTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.bot = b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if strings.Contains(h.logs.String(), fakeToken) {
			t.Errorf("the bot token appears in the logs")
		}
		if t.Failed() {
			t.Logf("bot logs:\n%s", h.logs.String())
		}
	})
	return h
}

// partner returns the shop partner of a Telegram user (after their first message).
func (h *harness) partner(t testing.TB, u tgUser) *domain.Partner {
	t.Helper()
	p, err := h.env.Shop.TelegramPartner(context.Background(), shop.TelegramUser{ID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
