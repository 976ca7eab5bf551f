package shop

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/store"
)

// The Fragment session (cookies and api hash) an operator sets at runtime
// with the bot's /fragment. It lives in the store, so every instance and
// every restart uses it, sealed (AES-256-GCM) with a key derived from the
// service wallet's private key, so a copy of the store alone (a backup, a
// database dump) does not hand out a logged-in Fragment session. Each
// instance reads it into memory at start-up and every 30 s; the instance
// that takes a new one uses it at once. The fragment provider asks
// FragmentSession before every request (fragment.Options.Session).
//
// The configured session (fulfillment.fragment.cookies/hash) stays the
// fallback: a stored session is used only while the configuration still
// holds what it held when the session was set, so an operator who later
// edits the config (or FRAGMENT_COOKIES) and restarts gets the config's.

// fragmentSessionMeta names the store meta record of the sealed session.
const fragmentSessionMeta = "fragment_session"

// Audit actions of the Fragment session.
const (
	AuditFragmentSession      = "fragment.session_set"
	AuditFragmentSessionClear = "fragment.session_cleared"
)

// Bounds of a pasted session.
const (
	maxSessionCookies = 32
	maxSessionBytes   = 8 << 10
)

type fragmentSession struct {
	Cookies string    `json:"cookies"`
	Hash    string    `json:"hash,omitempty"`
	Names   []string  `json:"names"`
	SetAt   time.Time `json:"set_at"`
	SetBy   string    `json:"set_by"`
	// ConfigDigest is the digest of the configured cookies and hash when it
	// was set; another digest now means the configuration is newer.
	ConfigDigest string `json:"config_digest"`
}

// FragmentSessionInfo says which Fragment session the provider uses;
// never the cookies or the hash.
type FragmentSessionInfo struct {
	Source      string     // "config" | "operator" (set with /fragment)
	SetAt       *time.Time // operator: when
	SetBy       string     // operator: who
	CookieNames []string   // operator: the cookie names, not their values
	HashSet     bool       // operator: a hash was given (else it is read from Fragment's page)
}

// FragmentSessionResult is what SetFragmentSession did.
type FragmentSessionResult struct {
	Info FragmentSessionInfo
	// Checked: the provider tried the new session at once (Probe); CheckErr
	// is why Fragment still refuses it ("" when it works).
	Checked  bool
	CheckErr string
}

// FragmentSession returns the cookies and api hash an operator set ("" and
// "" when none: the provider uses its configured ones).
func (s *Shop) FragmentSession() (cookies, hash string) {
	if fs := s.ops.session.Load(); fs != nil {
		return fs.Cookies, fs.Hash
	}
	return "", ""
}

// FragmentSessionInfo describes the session in use.
func (s *Shop) FragmentSessionInfo() FragmentSessionInfo {
	fs := s.ops.session.Load()
	if fs == nil {
		return FragmentSessionInfo{Source: "config"}
	}
	at := fs.SetAt
	return FragmentSessionInfo{Source: "operator", SetAt: &at, SetBy: fs.SetBy, CookieNames: fs.Names, HashSet: fs.Hash != ""}
}

// usesFragment reports whether the delivery provider is Fragment.
func (s *Shop) usesFragment() bool { return s.cfg.Fulfillment.Provider == "fragment" }

func (s *Shop) configSessionDigest() string {
	f := s.cfg.Fulfillment.Fragment
	sum := sha256.Sum256([]byte(strings.TrimSpace(f.Cookies) + "\x00" + strings.TrimSpace(f.Hash)))
	return hex.EncodeToString(sum[:])
}

// sessionAEAD is the cipher sealing the stored session.
func (s *Shop) sessionAEAD() (cipher.AEAD, error) {
	key := s.keys.Wallet().PrivateKey()
	if len(key) == 0 {
		return nil, errors.New("the service wallet has no private key")
	}
	mac := hmac.New(sha256.New, key.Seed())
	mac.Write([]byte("openmoney/fragment-session/v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (s *Shop) sealSession(fs *fragmentSession) ([]byte, error) {
	plain, err := json.Marshal(fs)
	if err != nil {
		return nil, err
	}
	aead, err := s.sessionAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte(fragmentSessionMeta)), nil
}

func (s *Shop) openSession(sealed []byte) (*fragmentSession, error) {
	aead, err := s.sessionAEAD()
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed session too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(fragmentSessionMeta))
	if err != nil {
		return nil, errors.New("cannot open the stored session (was the store restored under another wallet seed?)")
	}
	var fs fragmentSession
	if err := json.Unmarshal(plain, &fs); err != nil {
		return nil, err
	}
	return &fs, nil
}

// LoadFragmentSession reads the stored session into memory; every instance
// calls it at start-up and every 30 s (RunLocal).
func (s *Shop) LoadFragmentSession(ctx context.Context) error {
	if !s.usesFragment() {
		return nil
	}
	var sealed []byte
	err := s.st.View(ctx, func(tx store.Tx) error {
		raw, err := tx.GetMeta(fragmentSessionMeta)
		if errors.Is(err, store.ErrNotFound) {
			sealed = nil
			return nil
		}
		sealed = raw
		return err
	})
	if err != nil {
		return fmt.Errorf("shop: fragment session: %w", err)
	}
	if len(sealed) == 0 {
		s.adoptSession(nil)
		return nil
	}
	fs, err := s.openSession(sealed)
	if err != nil {
		s.adoptSession(nil)
		return fmt.Errorf("shop: fragment session: %w", err)
	}
	if fs.ConfigDigest != s.configSessionDigest() {
		// The configuration changed after the operator set this session: it wins.
		s.adoptSession(nil)
		return nil
	}
	s.adoptSession(fs)
	return nil
}

// adoptSession makes fs (nil: the configured session) the one in use.
func (s *Shop) adoptSession(fs *fragmentSession) {
	old := s.ops.session.Swap(fs)
	switch {
	case fs != nil && (old == nil || !old.SetAt.Equal(fs.SetAt)):
		s.log.Info("fragment: using the session an operator set", "set_at", fs.SetAt, "set_by", fs.SetBy)
	case fs == nil && old != nil:
		s.log.Info("fragment: using the configured session")
	}
}

// refreshFragmentSession is LoadFragmentSession for the background loop.
func (s *Shop) refreshFragmentSession(ctx context.Context) {
	if err := s.LoadFragmentSession(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("fragment session", "err", err)
	}
}

// ParseFragmentSession reads what an operator pastes after /fragment: the
// session cookies ("name=value; name=value", one per line, or a whole
// "Cookie:" header) and, optionally, the api hash (hex, alone or as
// hash=…). It never puts any part of text in its errors. Errors:
// VALIDATION_ERROR (field session).
func ParseFragmentSession(text string) (cookies, hash string, err error) {
	if len(text) > maxSessionBytes {
		return "", "", validation("session", "session_format", "the session is longer than %d bytes", maxSessionBytes)
	}
	var parts []string
	for i, tok := range strings.FieldsFunc(text, func(r rune) bool { return r == ';' || unicode.IsSpace(r) }) {
		if strings.EqualFold(tok, "cookie:") {
			continue
		}
		name, value, isPair := strings.Cut(tok, "=")
		switch {
		case isPair && strings.EqualFold(name, "hash") && isHexToken(value):
			if hash != "" {
				return "", "", validation("session", "session_format", "two api hashes given")
			}
			hash = strings.ToLower(value)
		case !isPair && isHexToken(tok):
			if hash != "" {
				return "", "", validation("session", "session_format", "two api hashes given")
			}
			hash = strings.ToLower(tok)
		case isPair && validCookieName(name) && value != "" && printableASCII(value):
			parts = append(parts, name+"="+value)
		default:
			return "", "", validation("session", "session_format",
				"part %d is neither a cookie (name=value) nor the api hash (hex)", i+1)
		}
	}
	if len(parts) == 0 {
		return "", "", validation("session", "session_cookies", "no cookies given (name=value; name=value)")
	}
	if len(parts) > maxSessionCookies {
		return "", "", validation("session", "session_format", "more than %d cookies", maxSessionCookies)
	}
	return strings.Join(parts, "; "), hash, nil
}

func isHexToken(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func validCookieName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == ',' || s[i] == '\\' {
			return false
		}
	}
	return true
}

func cookieNames(cookies string) []string {
	var names []string
	for _, part := range strings.Split(cookies, "; ") {
		if n, _, ok := strings.Cut(part, "="); ok {
			names = append(names, n)
		}
	}
	return names
}

// prober is implemented by providers that can check their session now
// (fragment.Provider).
type prober interface {
	Probe(ctx context.Context) error
}

// SetFragmentSession replaces the Fragment session with what an operator
// pasted (see ParseFragmentSession; without a hash, the provider reads it
// from Fragment's page). It is stored sealed, with an audit row naming the
// cookies but not their values, in one transaction; this instance uses it
// at once, the others within 30 s; and it is tried right away when the
// provider can (Probe). Errors: VALIDATION_ERROR (the provider is not
// fragment; the session or operator malformed).
func (s *Shop) SetFragmentSession(ctx context.Context, pasted string, who Actor) (FragmentSessionResult, error) {
	if !s.usesFragment() {
		return FragmentSessionResult{}, validation("session", "not_fragment",
			"the delivery provider is %s, not fragment: a Fragment session is not used", s.cfg.Fulfillment.Provider)
	}
	name, err := who.name()
	if err != nil {
		return FragmentSessionResult{}, err
	}
	cookies, hash, err := ParseFragmentSession(pasted)
	if err != nil {
		return FragmentSessionResult{}, err
	}
	fs := &fragmentSession{Cookies: cookies, Hash: hash, Names: cookieNames(cookies), SetAt: s.now(), SetBy: name,
		ConfigDigest: s.configSessionDigest()}
	sealed, err := s.sealSession(fs)
	if err != nil {
		return FragmentSessionResult{}, fmt.Errorf("shop: fragment session: %w", err)
	}
	detail := "cookies " + strings.Join(fs.Names, ", ")
	if hash != "" {
		detail += "; api hash given"
	} else {
		detail += "; api hash read from Fragment's page"
	}
	err = s.update(ctx, func(tx *txn) error {
		if err := tx.PutMeta(fragmentSessionMeta, sealed); err != nil {
			return err
		}
		return s.audit(tx, who, domain.AuditEntry{Action: AuditFragmentSession, Detail: detail})
	})
	if err != nil {
		return FragmentSessionResult{}, fmt.Errorf("shop: fragment session: %w", err)
	}
	s.adoptSession(fs)
	res := FragmentSessionResult{Info: s.FragmentSessionInfo()}
	if p, ok := s.provider.(prober); ok {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		perr := p.Probe(pctx)
		cancel()
		res.Checked = true
		if perr != nil {
			res.CheckErr = clipParked(perr.Error(), 300)
		}
	}
	s.log.Warn("fragment session replaced by an operator", "operator", name, "cookies", fs.Names, "hash_given", hash != "",
		"works", res.Checked && res.CheckErr == "")
	return res, nil
}

// ClearFragmentSession drops the operator's session: the configured one is
// used again (audited). Errors: VALIDATION_ERROR (operator), NOT_FOUND (none set).
func (s *Shop) ClearFragmentSession(ctx context.Context, who Actor) error {
	if _, err := who.name(); err != nil {
		return err
	}
	none := false
	err := s.update(ctx, func(tx *txn) error {
		raw, err := tx.GetMeta(fragmentSessionMeta)
		none = errors.Is(err, store.ErrNotFound) || (err == nil && len(raw) == 0)
		if none {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.PutMeta(fragmentSessionMeta, []byte{}); err != nil {
			return err
		}
		return s.audit(tx, who, domain.AuditEntry{Action: AuditFragmentSessionClear, Detail: "back to fulfillment.fragment.cookies/hash"})
	})
	if err != nil {
		return fmt.Errorf("shop: fragment session: %w", err)
	}
	if none {
		return notFound("operator-set Fragment session")
	}
	s.adoptSession(nil)
	return nil
}
