package tgwebapp_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/theopenmoney/openmoney/internal/tgwebapp"
)

const token = "123456:TEST-token-never-logged"

var now = time.Date(2026, 4, 16, 12, 0, 0, 0, time.UTC)

func launch(authDate time.Time) url.Values {
	return url.Values{
		"query_id":  {"AAHdF6IQAAAAAN0XohDhrOrc"},
		"user":      {`{"id":4242,"first_name":"Ann","username":"ann_b","language_code":"id"}`},
		"auth_date": {strconv.FormatInt(authDate.Unix(), 10)},
		"signature": {"c2lnbmF0dXJl"},
	}
}

// TestSignMatchesTheDocumentedScheme computes the hash by hand, exactly as
// Telegram's documentation words it, and compares with Sign.
func TestSignMatchesTheDocumentedScheme(t *testing.T) {
	v := launch(now)
	check := "auth_date=" + v.Get("auth_date") + "\nquery_id=" + v.Get("query_id") + "\nsignature=" + v.Get("signature") + "\nuser=" + v.Get("user")
	sk := hmac.New(sha256.New, []byte("WebAppData"))
	sk.Write([]byte(token))
	m := hmac.New(sha256.New, sk.Sum(nil))
	m.Write([]byte(check))
	want := hex.EncodeToString(m.Sum(nil))
	got, _ := url.ParseQuery(tgwebapp.Sign(v, token))
	if got.Get("hash") != want {
		t.Fatalf("hash %s, want %s", got.Get("hash"), want)
	}
}

func TestValidate(t *testing.T) {
	good := tgwebapp.Sign(launch(now.Add(-time.Minute)), token)
	d, err := tgwebapp.Validate(good, token, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d.User.ID != 4242 || d.User.Username != "ann_b" || d.User.LanguageCode != "id" || !d.AuthDate.Equal(now.Add(-time.Minute)) {
		t.Errorf("decoded %+v", d)
	}

	tampered := strings.Replace(good, "4242", "4243", 1)
	extra := good + "&start_param=x"
	unsigned := launch(now)
	noUser := launch(now)
	noUser.Del("user")
	dup := good + "&user=%7B%22id%22%3A1%7D"
	for name, c := range map[string]struct {
		raw, token string
		want       error
	}{
		"tampered user":            {tampered, token, tgwebapp.ErrSignature},
		"field added":              {extra, token, tgwebapp.ErrSignature},
		"other bot's token":        {good, "654321:OTHER", tgwebapp.ErrSignature},
		"no hash":                  {unsigned.Encode(), token, tgwebapp.ErrMalformed},
		"hash not hex":             {unsigned.Encode() + "&hash=zz", token, tgwebapp.ErrMalformed},
		"empty":                    {"", token, tgwebapp.ErrMissing},
		"stale":                    {tgwebapp.Sign(launch(now.Add(-2*time.Hour)), token), token, tgwebapp.ErrStale},
		"from the future":          {tgwebapp.Sign(launch(now.Add(time.Hour)), token), token, tgwebapp.ErrFuture},
		"no user":                  {tgwebapp.Sign(noUser, token), token, tgwebapp.ErrMalformed},
		"repeated field":           {dup, token, tgwebapp.ErrMalformed},
		"not a query":              {"%zz", token, tgwebapp.ErrMalformed},
		"signed with no auth_date": {tgwebapp.Sign(url.Values{"user": {`{"id":1}`}}, token), token, tgwebapp.ErrMalformed},
	} {
		if _, err := tgwebapp.Validate(c.raw, c.token, now, time.Hour); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := tgwebapp.Validate(good, "", now, time.Hour); err == nil {
		t.Error("no bot token: accepted")
	}
}
