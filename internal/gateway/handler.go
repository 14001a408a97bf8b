package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"html"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgegate/edgegate/internal/accesslog"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/policy"
	"github.com/edgegate/edgegate/internal/proxy"
	"github.com/edgegate/edgegate/internal/route"
	"github.com/edgegate/edgegate/internal/upstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// RequestIDHeader carries the request ID to the client and the origin.
const RequestIDHeader = "X-Request-Id"

// reqState is what one request collects on its way through the pipeline,
// for the access log and metrics.
type reqState struct {
	id    string
	route string
	// ident is the verified caller (identity.Anonymous until authenticated).
	ident   *identity.Identity
	hy      hygiene.Result
	fwd     proxy.Result
	errCode string
	// stages holds how long each pipeline stage took.
	stages [numStages]time.Duration
	body   *countingBody
	// ctx carries the request's trace span when tracing is on.
	ctx context.Context
	// cacheStatus is the access log's cache_status (RFC 9211 style).
	cacheStatus string
	// script is the request's edge-script state (stage_script.go).
	script scriptState
	// assertion is the signed identity assertion for the origin, minted
	// before forwarding ("" for anonymous requests).
	assertion string

	// Per-request values that would otherwise be separate allocations
	// (issue #2): the response writer, the request ID header values (one
	// for the client, one for the origin), and the forwarding target with
	// its callbacks.
	rw        responseWriter
	idVals    [2]string
	assertVal [1]string
	target    proxy.Target
	hooks     originHooks
	policyIn  policy.Input
}

// stage names a step of the pipeline, for timings, metrics and spans.
type stage int

const (
	stageHygiene stage = iota
	stageRoute
	stageAuthn
	stagePolicy
	stageOrigin
	numStages
)

var stageNames = [numStages]string{"hygiene", "route", "authn", "policy", "origin"}

// stageSpanNames are the span names of the stages, built once rather than
// per request.
var stageSpanNames = func() (n [numStages]string) {
	for i, s := range stageNames {
		n[i] = "edgegate." + s
	}
	return n
}()

// timed runs fn as stage s: it records the duration and, with tracing on,
// a child span.
func (g *Gateway) timed(st *reqState, s stage, fn func(ctx context.Context) error) error {
	ctx, span := g.tracer.stage(st.ctx, stageSpanNames[s])
	start := time.Now()
	err := fn(ctx)
	st.stages[s] = time.Since(start)
	endStage(span, err)
	return err
}

// ServeHTTP is the edge pipeline. It loads the snapshot once.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	snap := g.snap.Load()
	st := &reqState{ctx: r.Context()}
	st.rw.ResponseWriter = w
	rw := &st.rw

	var span trace.Span
	if g.tracer != nil {
		peer, _ := netip.ParseAddrPort(r.RemoteAddr)
		st.ctx, span = g.tracer.startRequest(r, snap.Hygiene.IsTrusted(peer.Addr()))
		r = r.WithContext(st.ctx)
		defer func() {
			span.SetAttributes(attribute.String("edgegate.route", st.route), attribute.Int("http.response.status_code", rw.status))
			span.End()
		}()
	}

	err := g.serve(rw, r, snap, st)
	if err != nil {
		if errors.Is(err, proxy.ErrAborted) {
			g.finish(rw, r, snap, st, start, "aborted")
			g.log.Debug("response aborted", "request_id", st.id, "route", st.route, "err", err)
			// Tell net/http to cut the connection so the client sees a
			// truncated response rather than a complete-looking short one.
			panic(http.ErrAbortHandler)
		}
		if proxy.IsClientGone(err) {
			rw.status = 499 // nginx's "client closed request", for logs only
			g.finish(rw, r, snap, st, start, "client_gone")
			return
		}
		he := httperr.As(err)
		st.errCode = he.Code
		g.render(rw, r, st, he)
	}
	g.finish(rw, r, snap, st, start, st.errCode)
}

// serve runs the pipeline and returns an error for render to answer with.
func (g *Gateway) serve(w *responseWriter, r *http.Request, snap *Snapshot, st *reqState) error {
	peer, _ := netip.ParseAddrPort(r.RemoteAddr)
	inboundID := r.Header.Get(RequestIDHeader)
	var res hygiene.Result
	_, hySpan := g.tracer.stage(st.ctx, stageSpanNames[stageHygiene])
	hyStart := time.Now()
	// Framing first: it consumes this request's verdict from the
	// connection's guard, and nothing may answer before it.
	if he := snap.Hygiene.CheckFraming(r); he != nil {
		endStage(hySpan, he)
		st.id = requestID("", false)
		w.Header()[RequestIDHeader] = []string{st.id}
		g.reject(he)
		return he
	}
	res, he := snap.Hygiene.Sanitize(r, peer, r.TLS != nil)
	st.stages[stageHygiene] = time.Since(hyStart)
	st.hy = res
	st.id = requestID(inboundID, res.Trusted)
	st.idVals = [2]string{st.id, st.id}
	// Capacity-limited, so an append by a later stage copies.
	w.Header()[RequestIDHeader] = st.idVals[0:1:1]
	if he != nil {
		endStage(hySpan, he)
		g.reject(he)
		return he
	}
	endStage(hySpan, nil)
	// Whatever the client sent, the origin sees our request ID, and our
	// trace context (a client's counts only through a trusted proxy).
	r.Header[RequestIDHeader] = st.idVals[1:2:2]
	if !res.Trusted {
		for _, k := range traceHeaders {
			delete(r.Header, k)
		}
	}
	st.ident = &identity.Anonymous

	// The gateway's own endpoints come before routing, so no route can
	// shadow or forward them.
	if isInternalPath(res.Path) {
		return g.serveInternal(w, r, snap, res.Path, st)
	}

	_, routeSpan := g.tracer.stage(st.ctx, stageSpanNames[stageRoute])
	routeStart := time.Now()
	rt := snap.Routes.Match(&route.Request{Host: res.Host, Path: res.Path, Method: r.Method, Header: r.Header})
	st.stages[stageRoute] = time.Since(routeStart)
	if rt == nil {
		he := httperr.New(http.StatusNotFound, "route.none", "no route matches this request", nil)
		endStage(routeSpan, he)
		return he
	}
	st.route = rt.Name()
	if routeSpan != nil {
		routeSpan.SetAttributes(attribute.String("edgegate.route", st.route))
		endStage(routeSpan, nil)
	}
	rc := rt.Config

	var handled bool
	err := g.timed(st, stageAuthn, func(ctx context.Context) error {
		id, h, err := g.authenticate(w, r, snap, rt, st)
		if id != nil {
			st.ident = id
		}
		handled = h
		return err
	})
	if err != nil || handled {
		return err
	}
	if err := g.timed(st, stagePolicy, func(context.Context) error { return g.authorize(r, snap, rt, st.ident, st) }); err != nil {
		return err
	}
	// Edge scripts see the request only now: sanitized, routed, its caller
	// verified and authorized. They can change it, never widen access.
	if handled, err := g.scriptClientRequest(w, r, snap, rt, st); err != nil || handled {
		return err
	}

	if rc.Redirect != nil {
		if loc, status, ok := rt.Redirect(res.Path, r.URL.RawQuery); ok {
			w.Header().Set("Location", loc)
			w.WriteHeader(status)
			return nil
		}
		if rc.Pool == "" {
			return httperr.New(http.StatusNotFound, "route.redirect_miss", "no redirect for this path", nil)
		}
	}

	if err := g.mintAssertion(snap, rt, st.ident, st); err != nil {
		return err
	}

	limit := snap.Config.Limits.MaxBodyBytes
	if rc.MaxBodyBytes > 0 {
		limit = rc.MaxBodyBytes
	}
	if r.ContentLength > limit {
		return httperr.New(http.StatusRequestEntityTooLarge, "limits.body", "request body too large", nil)
	}
	if r.Body != nil && r.Body != http.NoBody {
		st.body = &countingBody{rc: http.MaxBytesReader(w, r.Body, limit)}
		r.Body = st.body
	}

	pool := snap.Pools.Pool(rc.Pool)
	st.hooks = originHooks{g: g, snap: snap, rt: rt, st: st, r: r}
	st.target = proxy.Target{
		Pool:            pool,
		Path:            rt.RewritePath(res.Path),
		RawQuery:        r.URL.RawQuery,
		ResponseTimeout: rc.ResponseTimeout,
		Hash:            upstream.HashInput{Header: r.Header, ClientIP: res.ClientIP},
		Hooks:           &st.hooks,
		StreamContext:   g.streamsCtx,
	}
	t := &st.target
	err = g.timed(st, stageOrigin, func(ctx context.Context) error {
		if g.tracer != nil {
			st.ctx = ctx // the origin span is the parent the origin sees
		}
		// The cache answers hits; misses go through the origin-side
		// script handlers to the origin (or a script acting as origin).
		return g.fetch(w, r, snap, rt, st, t)
	})
	if st.hooks.upgraded {
		g.streams.Add(-1)
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return httperr.New(http.StatusRequestEntityTooLarge, "limits.body", "request body too large", err)
		}
	}
	return err
}

// originHooks are the forwarder's callbacks for one request (proxy.Hooks).
// They live in the request's reqState, so a plain forward allocates no
// closures for them (issue #2).
type originHooks struct {
	g    *Gateway
	snap *Snapshot
	rt   *route.Route
	st   *reqState
	r    *http.Request
	// clientResponse: EditResponse also runs g.clientResponse, which the
	// cache otherwise applies itself on delivery (fetch sets it).
	clientResponse bool
	upgraded       bool
}

var _ proxy.Hooks = (*originHooks)(nil)

func (o *originHooks) EditRequest(h http.Header) {
	o.rt.RequestHeaders().Apply(h)
	o.snap.Hygiene.SetForwarded(h, o.st.hy, o.r.Host)
	stripSessionCookies(h, o.snap)
	o.g.assertIdentity(h, o.snap, o.rt, o.st.ident, o.st)
	if o.g.tracer != nil {
		o.g.tracer.inject(o.st.ctx, h)
	}
}

func (o *originHooks) EditResponse(status int, h http.Header) {
	o.rt.ResponseHeaders().Apply(h)
	if o.clientResponse {
		o.g.clientResponse(status, h, o.snap, o.rt, o.st)
	}
}

func (o *originHooks) OnUpgrade() {
	o.upgraded = true
	o.g.streams.Add(1)
	if fc := hygiene.ConnFromContext(o.r.Context()); fc != nil {
		// After a protocol switch the bytes are no longer HTTP.
		fc.Stop()
	}
}

func (g *Gateway) reject(he *httperr.Error) {
	g.metrics.Rejected.WithLabelValues(he.Code).Inc()
}

// render is the one place an error becomes a response and a log line.
func (g *Gateway) render(w *responseWriter, r *http.Request, st *reqState, he *httperr.Error) {
	level := slog.LevelInfo
	if he.Status >= 500 {
		level = slog.LevelWarn
	}
	if g.log.Enabled(r.Context(), level) {
		attrs := []any{"request_id", st.id, "status", he.Status, "code", he.Code, "route", st.route}
		if he.Err != nil {
			attrs = append(attrs, "cause", he.Err.Error())
		}
		g.log.Log(r.Context(), level, "request failed", attrs...)
	}
	if w.wrote {
		return
	}
	h := w.Header()
	for k, vv := range he.Header {
		h[k] = vv
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if wantsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(he.Status)
		_, _ = w.Write([]byte(errorPage(he, st.id)))
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(he.Status)
	b := make([]byte, 0, 160)
	b = append(b, `{"error":`...)
	b = strconv.AppendQuote(b, he.Code)
	b = append(b, `,"message":`...)
	b = strconv.AppendQuote(b, he.Public)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(he.Status), 10)
	b = append(b, `,"request_id":`...)
	b = strconv.AppendQuote(b, st.id)
	b = append(b, "}\n"...)
	_, _ = w.Write(b)
}

func errorPage(he *httperr.Error, id string) string {
	title := strconv.Itoa(he.Status) + " " + http.StatusText(he.Status)
	return "<!doctype html><html><head><meta charset=utf-8><title>" + html.EscapeString(title) +
		"</title></head><body><h1>" + html.EscapeString(title) + "</h1><p>" + html.EscapeString(he.Public) +
		"</p><p><small>request id " + html.EscapeString(id) + " · edgegate</small></p></body></html>\n"
}

// wantsHTML is true for browsers: they list text/html in Accept.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// finish records metrics and the access log line.
func (g *Gateway) finish(w *responseWriter, r *http.Request, snap *Snapshot, st *reqState, start time.Time, errCode string) {
	d := time.Since(start)
	status := w.status
	switch {
	case st.fwd.Status == http.StatusSwitchingProtocols && !w.wrote:
		status = http.StatusSwitchingProtocols // the hijacked stream's 101
	case status == 0:
		status = http.StatusOK
	}
	routeLabel := st.route
	if routeLabel == "" {
		routeLabel = "-"
	}
	if rm := snap.routeMetrics[routeLabel]; rm != nil {
		rm.counter(status).Inc()
		rm.observer().Observe(d.Seconds())
	} else {
		g.metrics.Requests.WithLabelValues(routeLabel, statusLabel(status)).Inc()
		g.metrics.Duration.WithLabelValues(routeLabel).Observe(d.Seconds())
	}
	for i, sd := range st.stages {
		if sd > 0 {
			g.metrics.StageDuration[i].Observe(sd.Seconds())
		}
	}
	if g.access == nil {
		return
	}
	// Sampling thins out successes only: every error and refusal is logged.
	if sample := snap.Config.Log.AccessSample; sample < 1 && status < 400 && errCode == "" && rand.Float64() >= sample {
		return
	}
	rec := accesslog.Record{
		Time:        start,
		RequestID:   st.id,
		Proto:       r.Proto,
		Host:        st.hy.Host,
		Method:      r.Method,
		Path:        st.hy.Path,
		Route:       st.route,
		Pool:        st.fwd.Pool,
		Origin:      st.fwd.Member,
		Attempts:    st.fwd.Attempts,
		Status:      status,
		BytesIn:     st.body.count(),
		BytesOut:    w.bytes,
		Duration:    d,
		CacheStatus: st.cacheStatus,
		Error:       errCode,
		UserAgent:   r.UserAgent(),
	}
	if st.hy.ClientIP.IsValid() {
		rec.ClientIP = st.hy.ClientIP.String()
	} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		rec.ClientIP = ap.Addr().String()
	}
	if rec.Path == "" {
		rec.Path = "(rejected)"
	}
	if st.ident != nil && st.ident.Authenticated() {
		rec.Subject = st.ident.Subject
		rec.AuthMethod = string(st.ident.Method)
	}
	rec.HygieneMS = ms(st.stages[stageHygiene])
	rec.RouteMS = ms(st.stages[stageRoute])
	rec.AuthnMS = ms(st.stages[stageAuthn])
	rec.PolicyMS = ms(st.stages[stagePolicy])
	rec.OriginMS = ms(st.stages[stageOrigin])
	rec.ScriptStatus = st.script.outcome
	rec.ScriptMS = ms(st.script.wall)
	if sc := trace.SpanContextFromContext(st.ctx); sc.IsValid() {
		rec.TraceID = sc.TraceID().String()
	}
	g.access.Log(rec)
}

var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}

// requestID keeps a well-formed ID from a trusted proxy (so one ID follows
// the request across hops) and makes a new one otherwise.
func requestID(in string, trusted bool) string {
	if trusted && validRequestID(in) {
		return in
	}
	var raw [8]byte
	v := rand.Uint64()
	for i := range raw {
		raw[i] = byte(v >> (8 * i))
	}
	var out [16]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// responseWriter records status and bytes and passes through Flush and,
// via Unwrap, Hijack (http.ResponseController finds it).
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wrote {
		if code >= 200 || code == http.StatusSwitchingProtocols {
			w.wrote = true
			w.status = code
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) Flush() {
	if !w.wrote {
		w.wrote = true
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// countingBody counts the request body bytes the origin actually read
// (a streamed upload declares no length).
type countingBody struct {
	rc io.ReadCloser
	n  int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

func (b *countingBody) count() int64 {
	if b == nil {
		return 0
	}
	return b.n
}

// errorCode is the stable reason code of err, safe for spans and labels.
func errorCode(err error) string {
	return httperr.As(err).Code
}
