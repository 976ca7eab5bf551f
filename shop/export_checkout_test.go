package shop

import (
	"context"
	"io"
)

// CheckoutSecret draws a checkout secret from r, for tests of the source.
func CheckoutSecret(r io.Reader) ([]byte, error) { return newCheckoutSecret(r) }

// ForgeCheckoutToken is the token this store would give order id whatever
// the order is (a balance order, a missing one), for tests.
func ForgeCheckoutToken(ctx context.Context, s *Shop, id int64) (string, error) {
	k, err := s.checkoutKeysFor(ctx)
	if err != nil {
		return "", err
	}
	return k.token(id), nil
}

// ListenURL is PublicURL's fallback for an http.listen address, for tests.
func ListenURL(listen string) string { return listenURL(listen) }
