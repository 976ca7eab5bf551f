package shop_test

import (
	"sync"
	"testing"

	"github.com/theopenmoney/openmoney/shop"
	"github.com/theopenmoney/openmoney/shop/shoptest"
)

// A cached key dies the moment it is rotated or revoked through the shop,
// even while other requests keep authenticating with it concurrently.
func TestAuthenticateKeyRevocationIsImmediate(t *testing.T) {
	env := shoptest.New(t, shoptest.Options{})
	p, key := env.Partner(t)
	if id, err := env.Shop.AuthenticateKey(ctx, key); err != nil || id != p.ID {
		t.Fatalf("fresh key: %d, %v", id, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ { // keep the cache hot and racing with the rotation
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					env.Shop.AuthenticateKey(ctx, key)
				}
			}
		}()
	}
	nk, err := env.Shop.RotateKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if _, err := env.Shop.AuthenticateKey(ctx, key); shop.ErrorCode(err) != shop.CodeUnauthorized {
			t.Fatalf("rotated key still accepted (try %d): %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if id, err := env.Shop.AuthenticateKey(ctx, nk.Key); err != nil || id != p.ID {
		t.Fatalf("new key: %d, %v", id, err)
	}
	if err := env.Shop.RevokeKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Shop.AuthenticateKey(ctx, nk.Key); shop.ErrorCode(err) != shop.CodeUnauthorized {
		t.Fatalf("revoked key accepted: %v", err)
	}
	for _, bad := range []string{"", "osk_short", "Bearer osk_x", "osk_" + string(make([]byte, 200))} {
		if _, err := env.Shop.AuthenticateKey(ctx, bad); shop.ErrorCode(err) != shop.CodeUnauthorized {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
