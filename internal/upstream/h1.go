package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The lean HTTP/1.1 transport (issue #2). net/http's Transport runs a read
// and a write goroutine per connection and hands every request between
// them over channels; on the plain proxy route that hand-off, the
// goroutine wake-ups and the read-ahead syscall of its readLoop cost about
// a tenth of edgegate's CPU per request. For the common exchange — a
// bodiless HTTP/1.1 request — h1Transport does the whole exchange on the
// calling goroutine: take an idle connection (or dial), write the request,
// read the response with http.ReadResponse, and put the connection back
// when the body reaches EOF. Everything unusual (request bodies, Expect,
// protocol upgrades, CONNECT, trailers) goes to the pool's http.Transport,
// which stays the reference behaviour.

const (
	// staleCheckAfter: a connection idle longer than this is probed with a
	// non-blocking MSG_PEEK before reuse, so one the origin closed in the
	// meantime is dropped instead of failing a request. Younger ones are
	// almost never stale, and a failure on them is retried anyway.
	staleCheckAfter = time.Second
	// maxResponseHeaderBytes is net/http's default MaxResponseHeaderBytes:
	// the bound on what an origin may send before its body.
	maxResponseHeaderBytes = 10 << 20
	// max1xxResponses bounds informational responses before the final one.
	max1xxResponses = 5
	// h1WriteBufSize is the pooled request writer's buffer, net/http's size.
	h1WriteBufSize = 4 << 10
)

var (
	// ErrResponseTimeout is wrapped by errors of an exchange whose response
	// headers did not arrive before its deadline (the origin response
	// timeout), including time spent queued for a connection slot.
	ErrResponseTimeout = errors.New("no response headers in time")
	// errHeaderTooLarge: the origin sent more than maxResponseHeaderBytes
	// before its body.
	errHeaderTooLarge = errors.New("upstream: origin response headers too large")
	// errUnexpectedSwitch: a 101 to a request that asked for no upgrade.
	errUnexpectedSwitch = errors.New("upstream: origin switched protocols unasked")
	// errToo1xx: an origin that keeps sending informational responses.
	errToo1xx = errors.New("upstream: too many 1xx informational responses")
	// errConnReused marks a kept-alive connection that failed before any
	// response byte (the origin closed it while idle).
	errConnReused = errors.New("upstream: reused connection failed before a response")
)

// h1Key names one origin's idle list: member scheme and host.
type h1Key struct {
	https bool
	host  string
}

// h1Transport is the lean HTTP/1.1 transport of one pool. It is safe for
// concurrent use.
type h1Transport struct {
	fallback    *http.Transport
	dialer      net.Dialer
	tls         *tls.Config // toward https members; cloned per dial only without ServerName
	connect     time.Duration
	maxIdle     int // per host
	idleTimeout time.Duration
	staleAfter  time.Duration // staleCheckAfter; tests shorten it

	mu    sync.Mutex
	idle  map[h1Key][]*h1Conn // guarded by mu; least recently used first
	gen   uint64              // guarded by mu; bumped by CloseIdleConnections
	sweep *time.Timer         // guarded by mu; nil until the first idle conn
	armed bool                // guarded by mu; sweep is pending

	bufw sync.Pool // *reqWriter
}

var _ http.RoundTripper = (*h1Transport)(nil)

func newH1Transport(fallback *http.Transport, tc *tls.Config, connect time.Duration, perHost int) *h1Transport {
	return &h1Transport{
		fallback:    fallback,
		dialer:      net.Dialer{Timeout: connect, KeepAlive: tcpKeepAlive},
		tls:         tc.Clone(),
		connect:     connect,
		maxIdle:     perHost,
		idleTimeout: idleConnTimeout,
		staleAfter:  staleCheckAfter,
		idle:        make(map[h1Key][]*h1Conn),
	}
}

// RoundTrip implements http.RoundTripper: the lean exchange when the
// request allows it, the fallback transport otherwise.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.lean(req) {
		return t.fallback.RoundTrip(req)
	}
	return t.roundTrip(req.Context(), req, time.Time{})
}

// CloseIdleConnections closes the idle connections of both transports;
// connections in use are closed when their exchange ends instead of being
// kept.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	t.gen++
	var drop []*h1Conn
	for k, l := range t.idle {
		drop = append(drop, l...)
		delete(t.idle, k)
	}
	t.mu.Unlock()
	for _, c := range drop {
		c.close()
	}
	t.fallback.CloseIdleConnections()
}

// lean reports whether req is the plain exchange h1Transport handles.
func (t *h1Transport) lean(req *http.Request) bool {
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
		return false
	}
	// Request bodies go to the fallback: it writes them concurrently with
	// reading the answer, so an origin that answers early (413) without
	// reading the body is handled, and it knows when a body may be replayed.
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	// An invalid method is left to the fallback, which refuses it.
	if (req.Method != "" && !httpguts.ValidHeaderFieldName(req.Method)) ||
		req.Method == http.MethodConnect || len(req.Trailer) > 0 || len(req.TransferEncoding) > 0 {
		return false
	}
	h := req.Header
	if len(h["Expect"]) > 0 || len(h["Upgrade"]) > 0 || httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade") {
		return false
	}
	return true
}

// roundTrip is the lean exchange. ctx stands for req's context (the
// proxy passes its own and saves a request copy). A non-zero deadline
// bounds dialing and the wait for response headers (not the body), like
// ctx's deadline does.
func (t *h1Transport) roundTrip(ctx context.Context, req *http.Request, deadline time.Time) (*http.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("upstream: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("upstream: invalid header field value for %q", k)
			}
		}
	}
	key := h1Key{https: req.URL.Scheme == "https", host: req.URL.Host}
	fresh := false
	for {
		c, err := t.getConn(ctx, key, deadline, fresh)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(c, req, ctx, deadline)
		if err == nil {
			return resp, nil
		}
		// A kept-alive connection the origin closed meanwhile fails before
		// any response byte; net/http retries such a request on a new
		// connection when replaying it is safe (shouldRetryRequest).
		if c.reused && c.nread == 0 && !fresh && ctx.Err() == nil && !errors.Is(err, ErrResponseTimeout) &&
			(c.unwritten || replayable(req)) {
			fresh = true
			continue
		}
		return nil, err
	}
}

// replayable is net/http's Request.isReplayable for a bodiless request.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

// exchange sends req on c and reads the response headers. On an error c is
// closed; on success c belongs to the returned body (or is back idle).
func (t *h1Transport) exchange(c *h1Conn, req *http.Request, ctx context.Context, deadline time.Time) (*http.Response, error) {
	c.nread, c.unwritten = 0, true
	if !deadline.IsZero() {
		_ = c.conn.SetDeadline(deadline)
	}
	// Cancellation without a goroutine: the context's own machinery calls
	// interrupt, which fails whatever read or write is blocked.
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.interrupt)
	}
	rw := t.getWriter(c.conn)
	err := rw.writeRequest(req)
	if err == nil {
		err = rw.bw.Flush()
	}
	t.putWriter(rw)
	if err != nil {
		return nil, c.fail(ctx, stop, deadline, "write request", err)
	}
	c.unwritten = false

	c.limit = maxResponseHeaderBytes
	var resp *http.Response
	for n1xx := 0; ; n1xx++ {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return nil, c.fail(ctx, stop, deadline, "read response", err)
		}
		// 1xx answers (100 Continue, 103 Early Hints) are skipped, as
		// net/http's transport does without a client trace.
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n1xx >= max1xxResponses {
			return nil, c.fail(ctx, stop, deadline, "read response", errToo1xx)
		}
	}
	c.limit = math.MaxInt64
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, c.fail(ctx, stop, deadline, "read response", errUnexpectedSwitch)
	}
	if !deadline.IsZero() {
		_ = c.conn.SetDeadline(time.Time{})
	}
	// After clearing the deadline: a cancellation that raced with it has
	// either set its own deadline after ours or is visible here.
	if ctx.Err() != nil {
		return nil, c.fail(ctx, stop, deadline, "read response", ctx.Err())
	}
	resp.TLS = c.tlsState
	reuse := !resp.Close && !req.Close && !httpguts.HeaderValuesContainsToken(req.Header["Connection"], "close")
	if resp.Body == http.NoBody {
		c.done(stop, reuse)
		return resp, nil
	}
	resp.Body = &h1Body{c: c, rc: resp.Body, ctx: ctx, stop: stop, reuse: reuse}
	return resp, nil
}

// h1Conn is one origin connection of h1Transport. Between getConn and
// done it belongs to one exchange.
type h1Conn struct {
	t        *h1Transport
	key      h1Key
	conn     net.Conn // *tls.Conn for https members
	raw      net.Conn // the TCP connection under conn, for the stale probe
	tlsState *tls.ConnectionState
	br       *bufio.Reader // reads through c (Read), so limit applies
	gen      uint64        // h1Transport.gen when dialed
	idleAt   time.Time

	// Owned by the exchange in progress.
	reused    bool  // taken from the idle list
	unwritten bool  // no byte of the current request written yet
	nread     int64 // bytes read since the current request began
	limit     int64 // bytes the reader may still read (header phase bound)
}

// Read feeds c.br, counting bytes (for the retry rule) and enforcing the
// response-header limit.
func (c *h1Conn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.conn.Read(p)
	c.nread += int64(n)
	if c.limit != math.MaxInt64 {
		c.limit -= int64(n)
	}
	return n, err
}

// interrupt runs when the exchange's context ends: a deadline in the past
// fails whatever read or write is blocked, at once.
func (c *h1Conn) interrupt() { _ = c.conn.SetDeadline(time.Unix(1, 0)) }

func (c *h1Conn) close() { _ = c.conn.Close() }

// fail closes c and says why the exchange failed: the context first, then
// the response deadline, then the I/O error itself.
func (c *h1Conn) fail(ctx context.Context, stop func() bool, deadline time.Time, op string, err error) error {
	if stop != nil {
		stop()
	}
	c.close()
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("upstream: %s: %w", op, cerr)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if terr := expired(ctx, deadline); terr != nil {
			return fmt.Errorf("upstream: %s: %w: %w", op, terr, err)
		}
	}
	if c.reused && c.nread == 0 {
		return fmt.Errorf("upstream: %s: %w: %w", op, errConnReused, err)
	}
	return fmt.Errorf("upstream: %s: %w", op, err)
}

// expired says which deadline has passed, if any: the context's (which
// roundTrip folded into deadline, and whose timer may not have fired yet)
// or the caller's response deadline.
func expired(ctx context.Context, deadline time.Time) error {
	if deadline.IsZero() || time.Now().Before(deadline) {
		return nil
	}
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		return context.DeadlineExceeded
	}
	return ErrResponseTimeout
}

// done ends an exchange whose response was read completely: the conn goes
// back to the idle list when it may be reused and no cancellation touched
// its deadline, and is closed otherwise.
func (c *h1Conn) done(stop func() bool, reuse bool) {
	if stop != nil && !stop() {
		reuse = false // interrupt ran or is running
	}
	if reuse && c.br.Buffered() > 0 {
		reuse = false // bytes past the response: the framing is off
	}
	if !reuse || !c.t.putIdle(c) {
		c.close()
	}
}

// h1Body is the response body of a lean exchange. It hands the connection
// back at EOF and closes it on an early Close or an error.
type h1Body struct {
	c     *h1Conn
	rc    io.ReadCloser // http.ReadResponse's body
	ctx   context.Context
	stop  func() bool
	reuse bool
	// fin is set once the connection was handed back or closed.
	fin atomic.Bool
	err error // sticky error after fin; guarded by the reader
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.fin.Load() {
		if b.err != nil {
			return 0, b.err
		}
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		if b.fin.CompareAndSwap(false, true) {
			b.c.done(b.stop, b.reuse)
		}
	case err != nil:
		if cerr := b.ctx.Err(); cerr != nil {
			err = fmt.Errorf("upstream: read response body: %w", cerr)
		}
		b.err = err
		if b.fin.CompareAndSwap(false, true) {
			if b.stop != nil {
				b.stop()
			}
			b.c.close()
		}
	}
	return n, err
}

// Close before EOF closes the connection: draining an unknown rest from an
// origin that may stall would hold the caller.
func (b *h1Body) Close() error {
	if b.fin.CompareAndSwap(false, true) {
		b.err = errBodyClosed
		if b.stop != nil {
			b.stop()
		}
		b.c.close()
	}
	return nil
}

var errBodyClosed = errors.New("upstream: read on closed response body")

// getConn returns an idle connection to key or dials one (always when
// fresh).
func (t *h1Transport) getConn(ctx context.Context, key h1Key, deadline time.Time, fresh bool) (*h1Conn, error) {
	if !fresh {
		for {
			c := t.takeIdle(key)
			if c == nil {
				break
			}
			if time.Since(c.idleAt) >= t.staleAfter && !alive(c.raw) {
				c.close()
				continue
			}
			c.reused = true
			return c, nil
		}
	}
	return t.dial(ctx, key, deadline)
}

// takeIdle pops the most recently used idle conn of key that has not
// outlived the idle timeout.
func (t *h1Transport) takeIdle(key h1Key) *h1Conn {
	var expired []*h1Conn
	t.mu.Lock()
	l := t.idle[key]
	var found *h1Conn
	for len(l) > 0 {
		c := l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		if time.Since(c.idleAt) < t.idleTimeout {
			found = c
			break
		}
		expired = append(expired, c)
	}
	t.idle[key] = l // kept when empty: the next putIdle reuses its array
	t.mu.Unlock()
	for _, c := range expired {
		c.close()
	}
	return found
}

// putIdle keeps c for reuse; false when it must be closed instead (the
// host's idle list is full, or CloseIdleConnections ran since it was dialed).
func (t *h1Transport) putIdle(c *h1Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.gen != t.gen {
		return false
	}
	l := t.idle[c.key]
	if len(l) >= t.maxIdle {
		return false
	}
	c.idleAt = time.Now()
	c.reused = false
	t.idle[c.key] = append(l, c)
	if !t.armed {
		t.armed = true
		if t.sweep == nil {
			t.sweep = time.AfterFunc(t.idleTimeout, t.sweepIdle)
		} else {
			t.sweep.Reset(t.idleTimeout)
		}
	}
	return true
}

// sweepIdle closes connections idle past the idle timeout, so an origin
// that is not used any more does not keep sockets open on either side.
func (t *h1Transport) sweepIdle() {
	now := time.Now()
	var drop []*h1Conn
	t.mu.Lock()
	next := time.Duration(0)
	for k, l := range t.idle {
		keep := l[:0]
		for _, c := range l {
			if age := now.Sub(c.idleAt); age >= t.idleTimeout {
				drop = append(drop, c)
			} else {
				keep = append(keep, c)
				if left := t.idleTimeout - age; next == 0 || left < next {
					next = left
				}
			}
		}
		clear(l[len(keep):])
		if len(keep) == 0 {
			delete(t.idle, k)
		} else {
			t.idle[k] = keep
		}
	}
	t.armed = next > 0
	if t.armed {
		t.sweep.Reset(next)
	}
	t.mu.Unlock()
	for _, c := range drop {
		c.close()
	}
}

// dial connects to key's host (TLS for https) under the connect timeout and
// the exchange deadline.
func (t *h1Transport) dial(ctx context.Context, key h1Key, deadline time.Time) (*h1Conn, error) {
	t.mu.Lock()
	gen := t.gen
	t.mu.Unlock()
	d := t.dialer
	d.Deadline = deadline
	raw, err := d.DialContext(ctx, "tcp", key.host)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("upstream: %w: %w", cerr, err)
		}
		if terr := expired(ctx, deadline); terr != nil {
			return nil, fmt.Errorf("upstream: %w: %w", terr, err)
		}
		return nil, err // a *net.OpError "dial": the proxy tries another member
	}
	c := &h1Conn{t: t, key: key, conn: raw, raw: raw, gen: gen}
	if key.https {
		if err := c.handshake(ctx, deadline); err != nil {
			raw.Close()
			return nil, err
		}
	}
	c.br = bufio.NewReader(c)
	return c, nil
}

func (c *h1Conn) handshake(ctx context.Context, deadline time.Time) error {
	t := c.t
	cfg := t.tls
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		host, _, err := net.SplitHostPort(c.key.host)
		if err != nil {
			host = c.key.host
		}
		cfg.ServerName = host
	}
	hsDeadline := time.Now().Add(t.connect)
	if t.connect <= 0 || (!deadline.IsZero() && deadline.Before(hsDeadline)) {
		hsDeadline = deadline
	}
	hctx := ctx
	if !hsDeadline.IsZero() {
		var cancel context.CancelFunc
		hctx, cancel = context.WithDeadline(ctx, hsDeadline)
		defer cancel()
	}
	tc := tls.Client(c.raw, cfg)
	if err := tc.HandshakeContext(hctx); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("upstream: tls handshake: %w: %w", cerr, err)
		}
		if terr := expired(ctx, deadline); terr != nil {
			return fmt.Errorf("upstream: tls handshake: %w: %w", terr, err)
		}
		return fmt.Errorf("upstream: tls handshake: %w", err)
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.conn = tc
	return nil
}

// reqWriter is a pooled request writer: the buffer and the scratch slice
// for sorting header names.
type reqWriter struct {
	bw   *bufio.Writer
	keys []string
}

func (t *h1Transport) getWriter(w io.Writer) *reqWriter {
	if rw, ok := t.bufw.Get().(*reqWriter); ok {
		rw.bw.Reset(w)
		return rw
	}
	return &reqWriter{bw: bufio.NewWriterSize(w, h1WriteBufSize)}
}

func (t *h1Transport) putWriter(rw *reqWriter) {
	rw.bw.Reset(nil)
	clear(rw.keys)
	rw.keys = rw.keys[:0]
	t.bufw.Put(rw)
}

// writeRequest writes a bodiless request byte for byte as req.Write does,
// without its allocations (a transfer writer, the request URI string, the
// header sorter): request line, Host, User-Agent, Content-Length: 0 for
// POST, PUT and PATCH, the other fields sorted by name. Hosts that need
// punycode or zone handling, and Connection: close, go to req.Write. The
// caller has checked field names and values (no CR or LF).
func (rw *reqWriter) writeRequest(req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if req.Close || req.URL.Opaque != "" || !asciiNoZone(host) || !httpguts.ValidHostHeader(host) {
		return req.Write(rw.bw)
	}
	path := req.URL.EscapedPath()
	if hasCTL(path) || hasCTL(req.URL.RawQuery) {
		return errCTLInURL
	}
	w := rw.bw
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	w.WriteString(method)
	w.WriteByte(' ')
	if path != "" {
		w.WriteString(path)
	} else {
		w.WriteByte('/')
	}
	if req.URL.ForceQuery || req.URL.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(req.URL.RawQuery)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	ua := "Go-http-client/1.1" // net/http's default, as req.Write sends it
	if vs, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(vs) > 0 {
			ua = vs[0]
		}
	}
	if ua != "" { // tested before trimming, as req.Write does
		w.WriteString("User-Agent: ")
		w.WriteString(textproto.TrimString(ua))
		w.WriteString("\r\n")
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		w.WriteString("Content-Length: 0\r\n")
	}
	keys := rw.keys[:0]
	for k := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range req.Header[k] {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(textproto.TrimString(v))
			w.WriteString("\r\n")
		}
	}
	rw.keys = keys
	_, err := w.WriteString("\r\n")
	return err
}

// errCTLInURL is req.Write's refusal of a control byte in the target.
var errCTLInURL = errors.New("upstream: can't write control character in Request.URL")

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// asciiNoZone: the host needs neither punycode nor IPv6 zone removal.
func asciiNoZone(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 0x80 || c == '%' {
			return false
		}
	}
	return true
}
