// Package proxy forwards one sanitized, routed request to an origin pool and
// streams the answer back.
//
// It is the gateway's replacement for httputil.ReverseProxy. The standard one
// allocates a 32 KiB buffer per request, clones the whole request, and
// forwards client Upgrade: h2c (golang/go#80416); this one edits the request
// the edge already owns, reuses buffers, picks and retries pool members, and
// maps every origin failure to one *httperr.Error (502, 503 or 504).
//
// What it keeps from ReverseProxy, on purpose: hop-by-hop stripping on both
// directions, "TE: trailers" passed through for gRPC, trailers announced and
// copied, immediate flushing of streams of unknown length, and protocol
// switches (WebSocket) spliced after a 101.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/upstream"
	"golang.org/x/net/http/httpguts"
)

// ErrAborted is returned when the response was already under way and could
// not be finished (origin or client broke off mid-body). Nothing more can be
// sent; the caller aborts the client connection (panic(http.ErrAbortHandler)
// in net/http terms) so the client sees a truncated response, not a short
// one that looks complete.
var ErrAborted = errors.New("proxy: response aborted mid-stream")

// errClientGone marks a request whose client went away before the origin
// answered; it is logged as 499 and nothing is written.
var errClientGone = errors.New("proxy: client went away")

const bufSize = 32 << 10

// Forwarder sends requests to origin pools. Its zero value is ready to use
// and it is safe for concurrent use; one Forwarder serves every snapshot.
type Forwarder struct {
	bufs sync.Pool // *[]byte of bufSize
}

// Target describes where and how one request is forwarded. The edge fills it
// from the snapshot and route; Forward does not change it.
type Target struct {
	Pool *upstream.Pool
	// Path and RawQuery are sent to the origin as the request target; Path
	// is already normalized and rewritten.
	Path     string
	RawQuery string
	// ResponseTimeout bounds the wait for response headers; 0 uses the pool's.
	ResponseTimeout time.Duration
	// Hash feeds hash balancing.
	Hash upstream.HashInput
	// Hooks, when not nil, replaces EditRequest, EditResponse and
	// OnUpgrade: one interface value the caller can keep in its request
	// state, instead of three closures per request.
	Hooks Hooks
	// EditRequest runs on the outbound header after hop-by-hop headers are
	// removed (route header operations, forwarding headers, request ID).
	EditRequest func(h http.Header)
	// EditResponse runs on the origin's response status and header after
	// hop-by-hop headers are removed, before anything is written to the
	// client. It may change the header, not the status.
	EditResponse func(status int, h http.Header)
	// OnUpgrade runs after the client connection is hijacked for a protocol
	// switch: the bytes that follow are no longer HTTP.
	OnUpgrade func()
	// StreamContext, when done, cuts an upgraded stream (the server's own
	// shutdown no longer covers a hijacked connection). May be nil.
	StreamContext context.Context
}

// Hooks are a Target's callbacks as one interface; see Target's func fields
// of the same names for when each runs.
type Hooks interface {
	EditRequest(h http.Header)
	EditResponse(status int, h http.Header)
	OnUpgrade()
}

func (t *Target) editRequest(h http.Header) {
	switch {
	case t.Hooks != nil:
		t.Hooks.EditRequest(h)
	case t.EditRequest != nil:
		t.EditRequest(h)
	}
}

func (t *Target) editResponse(status int, h http.Header) {
	switch {
	case t.Hooks != nil:
		t.Hooks.EditResponse(status, h)
	case t.EditResponse != nil:
		t.EditResponse(status, h)
	}
}

func (t *Target) onUpgrade() {
	switch {
	case t.Hooks != nil:
		t.Hooks.OnUpgrade()
	case t.OnUpgrade != nil:
		t.OnUpgrade()
	}
}

// Result says what happened, for the access log and metrics.
type Result struct {
	// Member is the origin URL host of the last attempt ("" if none).
	Member string
	// Pool is the pool of the last attempt (a failover pool when used).
	Pool string
	// Attempts counts origin attempts.
	Attempts int
	// Status is the status the origin answered (0 if it never did).
	Status int
}

// Forward sends r to t.Pool and copies the response to w. It owns r from
// now on: r.Header becomes the outbound header. On an error before anything
// was written it returns an *httperr.Error for the caller to render; after
// the response started it returns an error wrapping ErrAborted.
func (f *Forwarder) Forward(w http.ResponseWriter, r *http.Request, t *Target) (Result, error) {
	var res Result
	upType := upgradeType(r.Header)
	// Keep "TE: trailers" for gRPC (the only TE value HTTP/2 allows), as
	// ReverseProxy does; read it before the hop-by-hop pass removes TE.
	keepTE := httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers")
	hygiene.RemoveHopByHop(r.Header)
	if keepTE {
		r.Header.Set("Te", "trailers")
	}
	if upType != "" {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", upType)
	}
	t.editRequest(r.Header)
	// A nil Header User-Agent makes Go's client add its own; an empty value
	// keeps the origin seeing what the client sent (nothing).
	if _, ok := r.Header["User-Agent"]; !ok {
		r.Header["User-Agent"] = emptyValue
	}

	body := r.Body
	if r.ContentLength == 0 || body == http.NoBody {
		body = nil
	}
	var tracked *trackingBody
	if body != nil {
		tracked = &trackingBody{rc: body}
		body = tracked
	}

	timeout := t.ResponseTimeout
	if timeout <= 0 {
		timeout = t.Pool.ResponseTimeout()
	}
	idempotent := isIdempotent(r.Method, r.Header)

	var tried []*upstream.Member
	var triedArr [4]*upstream.Member
	tried = triedArr[:0]
	for {
		m, err := t.Pool.Pick(t.Hash, tried)
		if err != nil {
			if len(tried) > 0 {
				// Every member we could try failed to connect.
				return res, httperr.New(http.StatusBadGateway, "origin.connect", "the origin could not be reached", err)
			}
			return res, httperr.New(http.StatusServiceUnavailable, "origin.unavailable", "no healthy origin is available", err)
		}
		tried = append(tried, m)
		res.Attempts++
		res.Member = m.URL().Host
		res.Pool = m.Pool().Name()

		// Send takes the context separately, so the outbound request needs
		// no WithContext copy.
		out := outbound(r, m.URL(), t, body)
		a, resp, err := m.Send(r.Context(), out, timeout)
		if a == nil {
			// Still queued for a connection slot when time ran out.
			if r.Context().Err() != nil {
				return res, errClientGone
			}
			return res, httperr.New(http.StatusGatewayTimeout, "origin.queue_timeout",
				"the origin did not answer in time", fmt.Errorf("no connection slot of %s within %v: %w", m.URL().Host, timeout, err))
		}
		if err != nil {
			switch {
			case r.Context().Err() != nil:
				a.End(upstream.OutcomeOK) // not the origin's fault
				return res, errClientGone
			case errors.Is(err, upstream.ErrResponseTimeout):
				a.End(upstream.OutcomeTimeout)
				return res, httperr.New(http.StatusGatewayTimeout, "origin.timeout",
					"the origin did not answer in time", fmt.Errorf("no response headers from %s within %v: %w", m.URL().Host, timeout, err))
			case isConnectError(err):
				a.End(upstream.OutcomeConnectError)
				retryable := idempotent || tracked == nil || !tracked.read
				if retryable && len(tried) <= t.Pool.Retries() {
					continue
				}
				return res, httperr.New(http.StatusBadGateway, "origin.connect", "the origin could not be reached", err)
			default:
				a.End(upstream.OutcomeError)
				return res, httperr.New(http.StatusBadGateway, "origin.error", "the origin failed to answer", err)
			}
		}
		res.Status = resp.StatusCode
		outcome := upstream.OutcomeOK
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
			outcome = upstream.OutcomeStatus5xx
		}
		err = f.respond(w, r, resp, upType, t)
		// The request stays in flight (the autoscaling signal, and
		// least_requests) until its body has streamed, not just its headers.
		a.End(outcome)
		return res, err
	}
}

var emptyValue = []string{""}

// outboundReq holds an outbound request and its URL in one allocation.
type outboundReq struct {
	req http.Request
	url url.URL
}

func outbound(r *http.Request, member *url.URL, t *Target, body io.ReadCloser) *http.Request {
	o := &outboundReq{url: url.URL{
		Scheme:   member.Scheme,
		Host:     member.Host,
		Path:     t.Path,
		RawQuery: t.RawQuery,
	}}
	out := &o.req
	*out = http.Request{
		Method:        r.Method,
		URL:           &o.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.Header,
		Body:          body,
		ContentLength: r.ContentLength,
		Host:          r.Host,
	}
	if body == nil {
		out.ContentLength = 0
	}
	// Request trailers are not forwarded: they arrive after hygiene has run
	// (so an identity or forwarding header could ride in them past every
	// check), and Go merges undeclared trailer fields in too. Response
	// trailers (gRPC status) are forwarded.
	return out
}

// respond copies resp to w.
func (f *Forwarder) respond(w http.ResponseWriter, r *http.Request, resp *http.Response, upType string, t *Target) error {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return f.switchProtocols(w, r, resp, upType, t)
	}
	defer resp.Body.Close()

	hygiene.RemoveHopByHop(resp.Header)
	t.editResponse(resp.StatusCode, resp.Header)
	dst := w.Header()
	for k, vv := range resp.Header {
		dst[k] = vv
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst.Set("Trailer", strings.Join(names, ", "))
	}
	w.WriteHeader(resp.StatusCode)

	flush := resp.ContentLength == -1 || isEventStream(resp.Header)
	if err := f.copyBody(w, resp.Body, flush); err != nil {
		return fmt.Errorf("%w: %w", ErrAborted, err)
	}

	if len(resp.Trailer) > 0 {
		// Trailers not announced up front (the transport learns them only
		// after the body) need the TrailerPrefix form.
		if len(resp.Trailer) != announced {
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
		}
		for k, vv := range resp.Trailer {
			if len(resp.Trailer) != announced {
				k = http.TrailerPrefix + k
			}
			dst[k] = vv
		}
	}
	return nil
}

func (f *Forwarder) copyBody(w http.ResponseWriter, src io.Reader, flush bool) error {
	bp := f.getBuf()
	defer f.bufs.Put(bp)
	buf := *bp
	var fl http.Flusher
	if flush {
		fl, _ = w.(http.Flusher)
	}
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("write to client: %w", werr)
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read from origin: %w", rerr)
		}
	}
}

func (f *Forwarder) getBuf() *[]byte {
	if bp, ok := f.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, bufSize)
	return &b
}

// switchProtocols splices the client and origin connections after a 101,
// for the protocol the client asked for and nothing else.
func (f *Forwarder) switchProtocols(w http.ResponseWriter, r *http.Request, resp *http.Response, reqType string, t *Target) error {
	resType := upgradeType(resp.Header)
	backConn, ok := resp.Body.(io.ReadWriteCloser)
	if reqType == "" || !strings.EqualFold(reqType, resType) || !ok {
		resp.Body.Close()
		return httperr.New(http.StatusBadGateway, "origin.bad_upgrade", "the origin switched protocols unexpectedly",
			fmt.Errorf("origin switched to %q when %q was requested", resType, reqType))
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		backConn.Close()
		return httperr.New(http.StatusInternalServerError, "upgrade.hijack", "protocol switch failed", err)
	}
	defer conn.Close()
	defer backConn.Close()
	t.onUpgrade()
	// The server's read and write deadlines were set for one HTTP exchange;
	// an upgraded stream lives as long as its peers want.
	_ = conn.SetDeadline(time.Time{})

	stop := context.AfterFunc(r.Context(), func() { backConn.Close() })
	defer stop()
	if t.StreamContext != nil {
		cut := context.AfterFunc(t.StreamContext, func() { backConn.Close(); conn.Close() })
		defer cut()
	}

	hygiene.RemoveHopByHop(resp.Header)
	resp.Header.Set("Connection", "Upgrade")
	resp.Header.Set("Upgrade", resType)
	t.editResponse(resp.StatusCode, resp.Header)
	for k, vv := range w.Header() {
		if _, ok := resp.Header[k]; !ok {
			resp.Header[k] = vv
		}
	}
	resp.Body = nil
	if err := resp.Write(brw); err != nil {
		return fmt.Errorf("%w: write 101: %w", ErrAborted, err)
	}
	if err := brw.Flush(); err != nil {
		return fmt.Errorf("%w: flush 101: %w", ErrAborted, err)
	}
	errc := make(chan error, 2)
	go splice(backConn, brw, errc)  // client → origin (brw holds bytes already buffered)
	go splice(conn, backConn, errc) // origin → client
	<-errc
	return nil
}

func splice(dst io.Writer, src io.Reader, errc chan<- error) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	errc <- err
}

// upgradeType returns the protocol named by a request or response that asks
// to switch protocols ("websocket"), or "".
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream")
}

// isIdempotent follows RFC 9110 §9.2.2, plus Idempotency-Key (as Go's
// transport does) for methods the client marks as safe to repeat.
func isIdempotent(method string, h http.Header) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, ok := h["Idempotency-Key"]
	return ok
}

// isConnectError reports whether err happened while connecting, so no
// byte of the request reached the origin and another member may be tried.
func isConnectError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return false
}

// trackingBody notes whether the transport read from the request body, so a
// retry never replays a body that is half gone.
type trackingBody struct {
	rc   io.ReadCloser
	read bool
}

func (b *trackingBody) Read(p []byte) (int, error) {
	b.read = true
	return b.rc.Read(p)
}

// Close is a no-op: the server owns the inbound body and closes it; the
// transport closing it after a failed attempt must not spoil a retry.
func (b *trackingBody) Close() error { return nil }

// IsClientGone reports whether err means the client left before an answer.
func IsClientGone(err error) bool { return errors.Is(err, errClientGone) }
