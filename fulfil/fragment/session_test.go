package fragment

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/theopenmoney/openmoney/domain"
	"github.com/theopenmoney/openmoney/fulfil"
)

// An operator replaces the expired session at runtime (Options.Session,
// fed by the shop from the store): the very next Fragment request carries
// the new cookies and hash, Available recovers on that request, and
// clearing it goes back to the configured session. No restart, no new
// Provider.
func TestSessionReplacedAtRuntime(t *testing.T) {
	f, srv := newFakeFragment(t)
	var mu sync.Mutex
	var cookies, hash string
	set := func(c, h string) { mu.Lock(); cookies, hash = c, h; mu.Unlock() }
	p := newTestProvider(t, srv.URL, newFakePayer(), func(o *Options) {
		o.Cookies = "stel_ssid=expired; stel_token=old" // what the config still holds
		o.Session = func() (string, string) { mu.Lock(); defer mu.Unlock(); return cookies, hash }
	})
	ctx := context.Background()

	// The configured session has expired.
	if _, err := p.CheckRecipient(ctx, domain.KindStars, "alice_user"); !errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatalf("expired session: %v", err)
	}
	if p.Available() == nil {
		t.Fatal("available with an expired session")
	}

	// The operator sends /fragment: the next request uses it.
	set(fakeCookies, fakeHash)
	rec, err := p.CheckRecipient(ctx, domain.KindStars, "alice_user")
	if err != nil || !rec.CanReceive {
		t.Fatalf("with the new session: %+v %v", rec, err)
	}
	f.mu.Lock()
	gotCookie, gotHash := f.lastCookie, f.lastHash
	f.mu.Unlock()
	if gotCookie != fakeCookies || gotHash != fakeHash {
		t.Fatalf("request carried Cookie %q hash %q, want the new session", gotCookie, gotHash)
	}
	if err := p.Available(); err != nil {
		t.Fatalf("still unavailable after a working request: %v", err)
	}

	// A new hash with the same cookies (Fragment rotated it): used as is.
	f.set(func(f *fakeFragment) { f.hash = "feedface0099" })
	set(fakeCookies, "FEEDFACE0099")
	if err := p.Probe(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	gotHash = f.lastHash
	f.mu.Unlock()
	if gotHash != "feedface0099" || f.count("searchStarsRecipient") != 3 {
		t.Fatalf("hash %q after %d searches, want the new one at once", gotHash, f.count("searchStarsRecipient"))
	}

	// Cleared: back to the configured (expired) cookies.
	set("", "")
	if err := p.Probe(ctx); !errors.Is(err, fulfil.ErrUnavailable) {
		t.Fatalf("configured session again: %v", err)
	}
	f.mu.Lock()
	gotCookie = f.lastCookie
	f.mu.Unlock()
	if gotCookie != "stel_ssid=expired; stel_token=old" {
		t.Fatalf("Cookie %q, want the configured one", gotCookie)
	}
}
