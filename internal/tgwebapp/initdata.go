// Package tgwebapp checks the launch data Telegram gives a Mini App
// (Telegram.WebApp.initData): a URL-encoded list of fields signed with the
// bot's token, as Telegram's Web Apps documentation specifies under
// "Validating data received via the Mini App":
//
//	data_check_string = every field but hash, as key=value, sorted by key,
//	                    joined with "\n"
//	secret_key        = HMAC-SHA-256(key "WebAppData", message bot_token)
//	hash              = hex(HMAC-SHA-256(key secret_key, message data_check_string))
//
// A valid signature proves Telegram produced the data for this bot; the
// auth_date it carries bounds how long a copy of it is accepted.
package tgwebapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of Validate; all mean "not from Telegram for this bot, now".
var (
	ErrMissing   = errors.New("tgwebapp: no init data")
	ErrMalformed = errors.New("tgwebapp: malformed init data")
	ErrSignature = errors.New("tgwebapp: init data signature does not match")
	ErrStale     = errors.New("tgwebapp: init data is too old")
	ErrFuture    = errors.New("tgwebapp: init data is dated in the future")
)

// maxSkew is how far in the future auth_date may be (clocks differ).
const maxSkew = time.Minute

// User is the Telegram user who opened the Mini App.
type User struct {
	ID           int64  `json:"id"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// InitData is validated launch data.
type InitData struct {
	User       User
	AuthDate   time.Time
	QueryID    string
	StartParam string
}

// Validate checks raw (the initData string as Telegram gave it) against the
// bot token and returns its fields. maxAge bounds now − auth_date.
func Validate(raw, botToken string, now time.Time, maxAge time.Duration) (*InitData, error) {
	if raw == "" {
		return nil, ErrMissing
	}
	if botToken == "" {
		return nil, errors.New("tgwebapp: no bot token to check init data with")
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, ErrMalformed
	}
	got, err := hex.DecodeString(vals.Get("hash"))
	if err != nil || len(got) != sha256.Size || len(vals["hash"]) != 1 {
		return nil, ErrMalformed
	}
	for _, v := range vals {
		if len(v) != 1 { // a repeated field: which one was signed?
			return nil, ErrMalformed
		}
	}
	if !hmac.Equal(got, sign(vals, botToken)) {
		return nil, ErrSignature
	}
	unix, err := strconv.ParseInt(vals.Get("auth_date"), 10, 64)
	if err != nil || unix <= 0 {
		return nil, ErrMalformed
	}
	d := &InitData{AuthDate: time.Unix(unix, 0).UTC(), QueryID: vals.Get("query_id"), StartParam: vals.Get("start_param")}
	if age := now.Sub(d.AuthDate); age > maxAge {
		return nil, ErrStale
	} else if age < -maxSkew {
		return nil, ErrFuture
	}
	if u := vals.Get("user"); u != "" {
		if err := json.Unmarshal([]byte(u), &d.User); err != nil {
			return nil, ErrMalformed
		}
	}
	if d.User.ID == 0 {
		return nil, ErrMalformed // launched without a user (an inline query, a chat): nothing to show
	}
	return d, nil
}

// sign is the expected hash of vals (its own hash field left out).
func sign(vals url.Values, botToken string) []byte {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		if k != "hash" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(vals.Get(k))
	}
	secret := hmac.New(sha256.New, []byte("WebAppData"))
	secret.Write([]byte(botToken))
	m := hmac.New(sha256.New, secret.Sum(nil))
	m.Write([]byte(b.String()))
	return m.Sum(nil)
}

// Sign returns vals encoded as init data signed with botToken, as Telegram
// would produce it (tests, and fakes of the Telegram client).
func Sign(vals url.Values, botToken string) string {
	v := url.Values{}
	for k, s := range vals {
		if k != "hash" {
			v[k] = slices.Clone(s)
		}
	}
	v.Set("hash", hex.EncodeToString(sign(v, botToken)))
	return v.Encode()
}
