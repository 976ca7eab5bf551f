// Package fragmentsim is a simulated Fragment for the delivery tests and
// `openmoney bench`: an http.Handler speaking the form-encoded /api of
// fragment.com the way docs/FRAGMENT.md pins it (search, page state, init
// request, payment link, confirm), so the provider's real HTTP client talks
// to it. Every call takes about Latency, and the server has its own rate
// limit: calls beyond it get HTTP 429 with Retry-After, like the real site.
//
// It hands out payment links the way Fragment does (one message, a text
// comment payload whose Ref# continues in a child cell, base64url without
// padding, a validUntil) and remembers each request, so a test can check that
// every payment on the chain belongs to a request and how many times it was
// paid. A share of recipients is paid through BounceAddress: the chain
// simulation makes that account refuse payments, so they bounce.
package fragmentsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/tvm/cell"
	"golang.org/x/time/rate"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Hash    string // the api hash accepted (default "0123456789abcdef01")
	Session string // the stel_ssid cookie value accepted (default "sim-session")
	// Latency of every call (default 200 ms).
	Latency time.Duration
	// RateLimit is how many calls per second the server answers (0: 300)
	// with bursts of Burst (0: RateLimit/5); the rest get 429.
	RateLimit float64
	Burst     int
	// RetryAfter is the Retry-After of a 429 (default 1 s).
	RetryAfter time.Duration
	// LinkTTL is how long a payment link is valid (default 10 min).
	LinkTTL time.Duration
	// Address receives the payments (raw or friendly, required);
	// BounceAddress receives those of a BounceShare of recipients (chosen
	// by username hash).
	Address       string
	BounceAddress string
	BounceShare   float64
	// StarNano is the price of one star (default 3_870_000); PremiumNano by
	// months (default 3: 3.1 TON, 6: 4.2 TON, 12: 7.5 TON).
	StarNano    int64
	PremiumNano map[int]int64
	Now         func() time.Time
}

// Request is one init*Request Fragment answered.
type Request struct {
	ReqID       string    `json:"req_id"`
	Kind        string    `json:"kind"` // "stars" | "premium"
	Username    string    `json:"username"`
	Stars       int64     `json:"stars,omitempty"`
	Months      int       `json:"months,omitempty"`
	Address     string    `json:"address"`
	AmountNano  int64     `json:"amount_nano"`
	Payload     string    `json:"payload"`      // base64url BOC, as handed out
	PayloadHash string    `json:"payload_hash"` // hex hash of the payload cell
	Linked      int       `json:"linked"`       // get*Link answers given
	Confirmed   int       `json:"confirmed"`    // confirmReq calls
	At          time.Time `json:"at"`
}

// Stats counts calls.
type Stats struct {
	Calls       int            `json:"calls"`
	RateLimited int            `json:"rate_limited"`
	ByMethod    map[string]int `json:"by_method"`
}

// Server is a simulated fragment.com.
type Server struct {
	o       Options
	limiter *rate.Limiter

	mu     sync.Mutex
	reqs   map[string]*Request
	order  []string
	stats  Stats
	tokens map[string]string // recipient token → username
}

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.Address == "" {
		return nil, fmt.Errorf("fragmentsim: Options.Address is required")
	}
	if o.Hash == "" {
		o.Hash = "0123456789abcdef01"
	}
	if o.Session == "" {
		o.Session = "sim-session"
	}
	if o.Latency == 0 {
		o.Latency = 200 * time.Millisecond
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 300
	}
	if o.Burst <= 0 {
		o.Burst = max(int(o.RateLimit/5), 1)
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.LinkTTL <= 0 {
		o.LinkTTL = 10 * time.Minute
	}
	if o.StarNano <= 0 {
		o.StarNano = 3_870_000
	}
	if o.PremiumNano == nil {
		o.PremiumNano = map[int]int64{3: 3_100_000_000, 6: 4_200_000_000, 12: 7_500_000_000}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{o: o, limiter: rate.NewLimiter(rate.Limit(o.RateLimit), o.Burst),
		reqs: map[string]*Request{}, tokens: map[string]string{}, stats: Stats{ByMethod: map[string]int{}}}, nil
}

// Cookies is the Cookie value the server accepts (FRAGMENT_COOKIES).
func (s *Server) Cookies() string {
	return "stel_ssid=" + s.o.Session + "; stel_dt=-240; stel_token=sim; stel_ton_token=sim"
}

// Hash is the api hash the server accepts (FRAGMENT_HASH).
func (s *Server) Hash() string { return s.o.Hash }

// Bounces reports whether username's payments go to BounceAddress.
func (s *Server) Bounces(username string) bool {
	if s.o.BounceAddress == "" || s.o.BounceShare <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(username)))
	return float64(h.Sum32()%10_000) < s.o.BounceShare*10_000
}

// Requests returns every request so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.reqs[id])
	}
	return out
}

// Stats returns the call counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByMethod = map[string]int{}
	for k, v := range s.stats.ByMethod {
		st.ByMethod[k] = v
	}
	return st
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && (r.URL.Path == "/stars/buy" || r.URL.Path == "/premium/gift") {
		if !s.session(r) {
			fmt.Fprint(w, `<html><body>Log in</body></html>`)
			return
		}
		fmt.Fprintf(w, `<html><script>ajInit({"version":1,"apiUrl":"\/api?hash=%s"});</script></html>`, s.o.Hash)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.stats.Calls++
	limited := !s.limiter.Allow()
	if limited {
		s.stats.RateLimited++
	}
	s.mu.Unlock()
	if limited {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(s.o.RetryAfter/time.Second, 1))))
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	select {
	case <-time.After(s.o.Latency):
	case <-r.Context().Done():
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	method := r.PostForm.Get("method")
	s.mu.Lock()
	s.stats.ByMethod[method]++
	s.mu.Unlock()
	if r.URL.Query().Get("hash") != s.o.Hash {
		writeJSON(w, map[string]any{"error": "Bad request"})
		return
	}
	if !s.session(r) {
		writeJSON(w, map[string]any{"error": "Session expired"})
		return
	}
	writeJSON(w, s.answer(method, r.PostForm))
}

func (s *Server) session(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Cookie"), "stel_ssid="+s.o.Session)
}

func (s *Server) answer(method string, form map[string][]string) map[string]any {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch method {
	case "searchStarsRecipient", "searchPremiumGiftRecipient":
		q := strings.ToLower(strings.TrimPrefix(get("query"), "@"))
		if q == "" || strings.HasSuffix(q, "_missing") {
			return map[string]any{"error": "No Telegram users found."}
		}
		tok := "rcpt_" + randomID(12)
		s.mu.Lock()
		s.tokens[tok] = q
		s.mu.Unlock()
		return map[string]any{"ok": true, "found": map[string]any{"myself": false, "recipient": tok, "name": q,
			"photo": `<img src="https://cdn4.telesco.pe/x.jpg">`}}
	case "updateStarsBuyState", "updatePremiumState":
		return map[string]any{"mode": "new", "need_update": false}
	case "initBuyStarsRequest", "initGiftPremiumRequest":
		s.mu.Lock()
		user, ok := s.tokens[get("recipient")]
		s.mu.Unlock()
		if !ok {
			return map[string]any{"error": "Invalid recipient"}
		}
		req := &Request{ReqID: randomID(10), Username: user, At: s.o.Now(), Address: s.o.Address}
		var comment string
		if method == "initBuyStarsRequest" {
			q, err := strconv.ParseInt(get("quantity"), 10, 64)
			if err != nil || q < 50 {
				return map[string]any{"error": "Invalid quantity"}
			}
			req.Kind, req.Stars, req.AmountNano = "stars", q, q*s.o.StarNano
			comment = fmt.Sprintf("%d Telegram Stars \n\nRef#%s", q, req.ReqID)
		} else {
			m, _ := strconv.Atoi(get("months"))
			nano, ok := s.o.PremiumNano[m]
			if !ok {
				return map[string]any{"error": "Invalid months"}
			}
			req.Kind, req.Months, req.AmountNano = "premium", m, nano
			comment = fmt.Sprintf("Telegram Premium for %d months \n\nRef#%s", m, req.ReqID)
		}
		if s.Bounces(user) {
			req.Address = s.o.BounceAddress
		}
		payload := commentPayload(comment)
		req.Payload = base64.RawURLEncoding.EncodeToString(payload.ToBOCWithFlags(false))
		req.PayloadHash = hex.EncodeToString(payload.Hash())
		s.mu.Lock()
		s.reqs[req.ReqID] = req
		s.order = append(s.order, req.ReqID)
		s.mu.Unlock()
		return map[string]any{"req_id": req.ReqID, "myself": false, "to_bot": false, "amount": formatTON(req.AmountNano)}
	case "getBuyStarsLink", "getGiftPremiumLink":
		s.mu.Lock()
		req, ok := s.reqs[get("id")]
		if ok {
			req.Linked++
		}
		s.mu.Unlock()
		if !ok || get("transaction") != "1" {
			return map[string]any{"error": "Request not found"}
		}
		var acc struct {
			Address string `json:"address"`
		}
		_ = json.Unmarshal([]byte(get("account")), &acc)
		return map[string]any{"ok": true, "confirm_method": "confirmReq", "confirm_params": map[string]any{"id": req.ReqID},
			"transaction": map[string]any{
				"validUntil": s.o.Now().Add(s.o.LinkTTL).Unix(),
				"from":       acc.Address,
				"messages":   []any{map[string]any{"address": req.Address, "amount": strconv.FormatInt(req.AmountNano, 10), "payload": req.Payload}},
			}}
	case "confirmReq":
		s.mu.Lock()
		if req, ok := s.reqs[get("id")]; ok {
			req.Confirmed++
		}
		s.mu.Unlock()
		return map[string]any{"ok": true}
	}
	return map[string]any{"error": "Unknown method"}
}

// commentPayload is a payload shaped like Fragment's: op 0 and the comment,
// whose last three bytes continue in a child cell.
func commentPayload(comment string) *cell.Cell {
	split := len(comment) - 3
	child := cell.BeginCell().MustStoreSlice([]byte(comment[split:]), uint(8*(len(comment)-split))).EndCell()
	return cell.BeginCell().MustStoreUInt(0, 32).
		MustStoreSlice([]byte(comment[:split]), uint(8*split)).
		MustStoreRef(child).EndCell()
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func formatTON(nano int64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%d.%09d", nano/1e9, nano%1e9), "0"), ".")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
