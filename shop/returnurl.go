package shop

import (
	"net"
	"net/url"
	"strings"
)

// MaxReturnURL is the longest return_url accepted, in bytes.
const MaxReturnURL = 2048

// ValidReturnURL checks an order's return_url: where the checkout page
// sends the customer back to (docs/API.md). It must be an absolute https
// URL of printable ASCII (anything else percent-encoded, hosts in punycode)
// of at most MaxReturnURL bytes, with a host and no user:password@. http is
// accepted in sandbox mode, and for a loopback host (localhost, 127.0.0.0/8,
// ::1) in any mode: neither reaches a customer on the internet. The page
// links to the URL exactly as given; so no javascript:, data: or relative
// URL can ever reach it.
func ValidReturnURL(raw string, sandbox bool) error {
	const field = "return_url"
	if raw == "" || len(raw) > MaxReturnURL {
		return validation(field, "return_url", "return_url must be an absolute https URL of 1-%d bytes", MaxReturnURL)
	}
	for i := 0; i < len(raw); i++ {
		// Printable ASCII only; a backslash is refused too, as browsers read
		// it as '/' in an http(s) URL and Go does not.
		if c := raw[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return validation(field, "return_url", "return_url must be printable ASCII without spaces or backslashes: percent-encode other characters (byte %d)", i)
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return validation(field, "return_url", "return_url must be an absolute URL with a host, like https://shop.example/thanks")
	}
	if u.User != nil {
		return validation(field, "return_url", "return_url must not carry a user name or password (user:password@)")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (sandbox || loopbackHost(u.Hostname())):
	case u.Scheme == "http":
		return validation(field, "return_url", "return_url must use https (http only in sandbox mode or to localhost)")
	default:
		return validation(field, "return_url", "return_url must be an https URL, not %s:", u.Scheme)
	}
	return nil
}

func loopbackHost(h string) bool {
	h = strings.ToLower(h)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
