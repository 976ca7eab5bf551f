package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The client's IP address keys every per-IP limit (failed authentication,
// admin routes, sandbox partner creation) and is logged with each request.
// It is the connection's peer address, unless the peer is one of
// http.trusted_proxies: then the forwarding chain is walked from the
// nearest hop outwards, and the first address that is not a trusted proxy
// is the client (the "rightmost untrusted" rule: entries a client wrote
// itself sit further left and are never reached while a trusted proxy
// appended after them).
//
// The chain is X-Forwarded-For when the request carries one, else the for=
// parameters of Forwarded (RFC 7239). X-Forwarded-For wins because it is
// what common proxies set (nginx, HAProxy, Caddy, Traefik); a proxy that
// sets only Forwarded must strip an incoming X-Forwarded-For, or a client
// could name any address (docs/OPERATIONS.md).

// clientIP returns the client address of r (the zero Addr when even the
// peer address cannot be parsed, which net/http never produces).
func (srv *server) clientIP(r *http.Request) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !srv.trustedProxy(peer) {
		return peer
	}
	hops := forwardChain(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		ip := parseHostAddr(hops[i])
		if !ip.IsValid() {
			return peer // garbage behind a trusted hop: the last address we can vouch for
		}
		if !srv.trustedProxy(ip) {
			return ip
		}
		peer = ip
	}
	return peer
}

func (srv *server) trustedProxy(ip netip.Addr) bool {
	for _, p := range srv.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardChain lists the addresses of the forwarding chain, client first.
func forwardChain(h http.Header) []string {
	var out []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for _, e := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(e))
			}
		}
		return out
	}
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					out = append(out, strings.Trim(strings.TrimSpace(val), `"`))
				}
			}
		}
	}
	return out
}

// parseHostAddr parses "1.2.3.4", "1.2.3.4:80", "2001:db8::1",
// "[2001:db8::1]" or "[2001:db8::1]:80" into an unmapped address.
func parseHostAddr(s string) netip.Addr {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip.Unmap().WithZone("")
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

// limitKey is the per-IP limiter key of ip: the address itself for IPv4,
// its /64 for IPv6 (one host usually holds a whole /64, so a limit per
// address would be no limit).
func limitKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "ip:unknown"
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}
