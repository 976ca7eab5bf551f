package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// loadConn is the load generator's side of one keep-alive HTTP/1.1
// connection: it writes a request's bytes and reads one response (status
// line, headers, Content-Length body), as wrk does, without net/http's
// per-request goroutine hand-offs, header maps and request objects. The
// service runs in the same process on the same two cores, so the client's
// own CPU is taken from the server under test; with net/http.Client it was
// about a quarter of the CPU of a POST /orders/stars (a cost the raw bbolt
// baseline does not carry) and a third of a GET. Every response is still
// parsed and its status checked.
type loadConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	body []byte // the last response body (reused)
}

func newLoadConn(addr string) *loadConn { return &loadConn{addr: addr} }

func (c *loadConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// request builds the bytes of an HTTP/1.1 request to rawURL's host and path.
func request(method, rawURL string, header []string, body []byte) (host, path string, head []byte, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u.RequestURI(), u.Host)
	for _, h := range header {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	return u.Host, u.RequestURI(), b.Bytes(), nil
}

// do sends head (request line and headers without the final blank line),
// extra header lines, a blank line and body, then reads the response; a
// status other than want is an error. The connection is redialled when the
// server closed it.
func (c *loadConn) do(ctx context.Context, head []byte, extra string, body []byte, want int) error {
	for attempt := 0; ; attempt++ {
		err := c.try(ctx, head, extra, body, want)
		var se statusError
		if err == nil || errors.As(err, &se) || attempt == 1 || ctx.Err() != nil {
			return err
		}
		c.close() // a stale keep-alive connection: once more on a fresh one
	}
}

type statusError struct {
	status int
	body   string
}

func (e statusError) Error() string { return fmt.Sprintf("status %d: %.200s", e.status, e.body) }

func (c *loadConn) try(ctx context.Context, head []byte, extra string, body []byte, want int) error {
	if c.conn == nil {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return err
		}
		c.conn, c.r, c.w = conn, bufio.NewReaderSize(conn, 8192), bufio.NewWriterSize(conn, 4096)
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	c.w.Write(head)
	c.w.WriteString(extra)
	c.w.WriteString("\r\n")
	c.w.Write(body)
	if err := c.w.Flush(); err != nil {
		c.close()
		return err
	}
	status, n, closing, err := c.readHead()
	if err != nil {
		c.close()
		return err
	}
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.r, c.body); err != nil {
		c.close()
		return err
	}
	if closing {
		c.close()
	}
	if status != want {
		return statusError{status, string(c.body)}
	}
	return nil
}

// readHead reads the status line and headers, returning the status, the
// Content-Length and whether the server will close the connection.
func (c *loadConn) readHead() (status, length int, closing bool, err error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, 0, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, 0, false, fmt.Errorf("bad status line %q", line)
	}
	length = -1
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return 0, 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, 0, false, errors.New("chunked responses are not expected from the API")
		}
	}
	if length < 0 {
		return 0, 0, false, errors.New("response without Content-Length")
	}
	return status, length, closing, nil
}
