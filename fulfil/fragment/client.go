package fragment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/theopenmoney/openmoney/fulfil"
)

// Pages whose XHR calls the provider imitates (Referer).
const (
	pageStars   = "/stars/buy"
	pagePremium = "/premium/gift"
)

const (
	defaultUserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
	acceptJSON       = "application/json, text/javascript, */*; q=0.01"
)

// rateLimitedError is HTTP 429: transient, never "unavailable".
type rateLimitedError struct{ after time.Duration }

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("fragment: rate limited (HTTP 429), retry after %s", e.after)
}

// RetryAfter lets callers schedule the next attempt.
func (e *rateLimitedError) RetryAfter() time.Duration { return e.after }

// call posts one method to {base}/api?hash=… and decodes the answer. HTTP and
// session failures are turned into errors here (session ones wrap
// fulfil.ErrUnavailable and mark the provider unavailable); an answer that
// merely carries {"error": …} is returned for the caller to classify, except
// "Bad request" (stale hash), which triggers one hash refresh and retry.
func (p *Provider) call(ctx context.Context, page, method string, form url.Values) (*response, error) {
	r, err := p.callPaced(ctx, page, method, form)
	if err != nil {
		return nil, err
	}
	if r.HasError && classifyError(r.Error) == kindBadHash {
		p.log.Warn("fragment: api hash refused, fetching a fresh one", "method", method)
		if herr := p.scrapeHash(ctx, page); herr != nil {
			return nil, p.unavailable("api hash refused (Bad request) and no fresh hash found: %v", herr)
		}
		if r, err = p.callOnce(ctx, page, method, form); err != nil {
			return nil, err
		}
		if r.HasError && classifyError(r.Error) == kindBadHash {
			return nil, p.unavailable("api hash refused (Bad request) even after a refresh")
		}
	}
	if r.HasError && classifyError(r.Error) == kindSession {
		return nil, p.unavailable("session refused: %q", r.Error)
	}
	p.markAvailable()
	return r, nil
}

// rateLimitRetries is how many times one call is retried after a 429 whose
// Retry-After is short (Options.RetryAfterMax).
const rateLimitRetries = 3

// callPaced is callOnce honouring Fragment's 429: a short Retry-After is
// waited out and the same call made again, without holding up other
// requests; a long one is returned (transient, with RetryAfter).
func (p *Provider) callPaced(ctx context.Context, page, method string, form url.Values) (*response, error) {
	for try := 0; ; try++ {
		r, err := p.callOnce(ctx, page, method, form)
		var rl *rateLimitedError
		if !errors.As(err, &rl) || rl.after > p.opt.RetryAfterMax || try == rateLimitRetries {
			return r, err
		}
		t := time.NewTimer(rl.after)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

func (p *Provider) callOnce(ctx context.Context, page, method string, form url.Values) (*response, error) {
	cookies := p.session()
	hash, err := p.currentHash(ctx, page)
	if err != nil {
		return nil, err
	}
	body := url.Values{}
	for k, v := range form {
		body[k] = v
	}
	body.Set("method", method)
	u := p.base + "/api?hash=" + url.QueryEscape(hash)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body.Encode()))
	if err != nil {
		return nil, fmt.Errorf("fragment: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	req.Header.Set("Accept", acceptJSON)
	req.Header.Set("Origin", p.base)
	req.Header.Set("Referer", p.base+page)
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	req.Header.Set("User-Agent", p.userAgent)
	if cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fragment: %s: %w", method, redactURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fragment: %s: read answer: %w", method, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		after := 60 * time.Second
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return nil, &rateLimitedError{after: after}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, p.unavailable("%s: HTTP %d (session cookies refused)", method, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fragment: %s: HTTP %d", method, resp.StatusCode)
	case len(raw) > maxResponseBytes:
		return nil, fmt.Errorf("fragment: %s: answer larger than %d bytes", method, maxResponseBytes)
	}
	r, err := decodeResponse(raw)
	if err != nil {
		// An HTML page instead of JSON is what a logged-out session or a
		// wrong hash gets.
		return nil, p.unavailable("%s: answer is not JSON (logged out?)", method)
	}
	p.log.Debug("fragment: answer", "method", method, "keys", r.Keys)
	return r, nil
}

// redactURL keeps the api hash out of errors (and so out of logs).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = "hash=REDACTED"
			ue.URL = u.String()
		}
	}
	return err
}

var hashRe = regexp.MustCompile(`/api\?hash=([0-9a-fA-F]{8,64})`)

func (p *Provider) currentHash(ctx context.Context, page string) (string, error) {
	p.mu.Lock()
	h := p.hash
	p.mu.Unlock()
	if h != "" {
		return h, nil
	}
	if err := p.scrapeHash(ctx, page); err != nil {
		return "", p.unavailable("no api hash configured and none found on %s: %v", page, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hash, nil
}

// scrapeHash loads page as a browser navigation with the session cookies and
// takes the api hash from its HTML (".../api?hash=<hex>").
func (p *Provider) scrapeHash(ctx context.Context, page string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+page, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("User-Agent", p.userAgent)
	req.Header.Set("Referer", p.base+"/")
	if cookies := p.session(); cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	m := hashRe.FindSubmatch(raw)
	if m == nil {
		return errors.New("no /api?hash= in the page")
	}
	p.mu.Lock()
	p.hash = strings.ToLower(string(m[1]))
	p.mu.Unlock()
	return nil
}

// unavailable marks the provider unavailable and returns an error wrapping
// fulfil.ErrUnavailable.
func (p *Provider) unavailable(format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	p.mu.Lock()
	if p.downReason == "" {
		p.downSince = p.now()
		p.log.Error("fragment: provider unavailable; the operator must refresh the Fragment session (cookies/hash)", "reason", reason)
	}
	p.downReason = reason
	p.mu.Unlock()
	return fmt.Errorf("%w: fragment: %s", fulfil.ErrUnavailable, reason)
}

func (p *Provider) markAvailable() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.downReason != "" {
		p.log.Info("fragment: provider available again", "was_down_since", p.downSince)
	}
	p.downReason = ""
}

// session returns the cookies to send: Options.Session's when it has
// some, else the configured ones. When the session changes, the api hash
// becomes the new session's (or, without one, is read again from the page).
func (p *Provider) session() string {
	cookies, hash := p.cookies, p.opt.Hash
	if p.opt.Session != nil {
		if c, h := p.opt.Session(); normalizeCookies(c) != "" {
			cookies, hash = normalizeCookies(c), h
		}
	}
	hash = strings.ToLower(strings.TrimSpace(hash))
	p.mu.Lock()
	defer p.mu.Unlock()
	if key := cookies + "\x00" + hash; key != p.inUse {
		if p.inUse != "" {
			p.log.Info("fragment: session replaced; using the new cookies from the next request on")
		}
		p.inUse = key
		p.hash = ""
		if isHex(hash) {
			p.hash = hash
		}
	}
	return cookies
}

// normalizeCookies accepts "k=v; k=v", one per line, or a full "Cookie:" header.
func normalizeCookies(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "Cookie:"), "cookie:")
	var parts []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' || r == '\r' }) {
		if part = strings.TrimSpace(part); part != "" {
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, "; ")
}
