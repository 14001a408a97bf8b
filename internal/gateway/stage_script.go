package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/edgekv"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/proxy"
	"github.com/edgegate/edgegate/internal/route"
	"github.com/edgegate/edgegate/internal/script"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Debug request headers (Akamai's enhanced debugging).
const (
	ewTraceHeader = "Akamai-Ew-Trace"
	maxRPBody     = 1 << 20
)

// scriptStage is the compiled edge-script bundles of one snapshot.
type scriptStage struct {
	bundles        map[string]*scriptBundle
	routes         map[string]*routeScript
	network        string
	activationFile string
	locationHeader string
	// workers by content hash and tier, for reuse by the next snapshot.
	workers map[string]*script.Worker
	// kv is the embedded EdgeKV store (nil when off); kvKey is its
	// configuration's content, so a reload with the same one keeps the
	// data scripts wrote.
	kv    *edgekv.Store
	kvKey string
	// sub runs the scripts' sub-requests: through the gateway's routes,
	// EdgeKV calls answered by kv.
	sub script.SubRequester
	// geo gives userLocation from the client address (nil: off); geoKey
	// is its file's content hash, for reuse by the next snapshot.
	geo    *script.GeoDB
	geoKey string
	device bool
}

// scriptBundle is one bundle's loaded versions and its active one.
type scriptBundle struct {
	name     string
	versions map[string]*script.Worker
	// active is the version served when a route pins none; activation
	// swaps it without a reload.
	active atomic.Pointer[string]
}

func (b *scriptBundle) worker(pin string) *script.Worker {
	if pin != "" {
		return b.versions[pin]
	}
	return b.versions[*b.active.Load()]
}

type routeScript struct {
	cfg        config.RouteScript
	bundle     *scriptBundle
	debugToken string
	// origins answers route({origin}) ids; made on first use, as it needs
	// the snapshot the route belongs to.
	origins atomic.Pointer[func(string) bool]
	// runs and cpu cache the metric children of successful runs per
	// handler, so a request does not hash label values.
	runs [script.NumHandlers]atomic.Pointer[prometheus.Counter]
	cpu  [script.NumHandlers]atomic.Pointer[prometheus.Observer]
}

// originsFunc is rs.origins, made once for snap (the snapshot rs is part of).
func (rs *routeScript) originsFunc(snap *Snapshot) func(string) bool {
	if f := rs.origins.Load(); f != nil {
		return *f
	}
	f := func(id string) bool {
		if _, ok := rs.cfg.Origins[id]; ok {
			return true
		}
		return snap.Pools.Pool(id) != nil
	}
	rs.origins.Store(&f)
	return f
}

// activations is the activation file: network → bundle → version.
type activations map[string]map[string]string

func readActivations(file string) (activations, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return activations{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read activation file: %w", err)
	}
	a := activations{}
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("activation file %s: %w", file, err)
	}
	return a, nil
}

func compileScript(cfg *config.Config, prev *Snapshot, g *Gateway) (*scriptStage, error) {
	s := &scriptStage{
		bundles: map[string]*scriptBundle{}, routes: map[string]*routeScript{}, workers: map[string]*script.Worker{},
		network: cfg.Scripts.Network, activationFile: cfg.Scripts.ActivationFile, locationHeader: cfg.Scripts.LocationHeader,
	}
	s.sub = &gatewaySub{g: g}
	s.device = cfg.Scripts.DeviceDetection
	if f := cfg.Scripts.GeoIPFile; f != "" {
		s.geoKey = f + "\x00" + cfg.Scripts.GeoIPHash
		if prev != nil && prev.script != nil && prev.script.geo != nil && prev.script.geoKey == s.geoKey {
			s.geo = prev.script.geo
		} else {
			db, err := script.OpenGeoDB(f)
			if err != nil {
				return nil, fmt.Errorf("scripts.geoip_file: %w", err)
			}
			s.geo = db
		}
	}
	if kvc := cfg.Scripts.EdgeKV; kvc != nil {
		if err := s.compileEdgeKV(kvc, prev); err != nil {
			return nil, err
		}
		s.sub = s.kv.Intercept(s.sub)
	}
	if len(cfg.Scripts.Bundles) == 0 {
		return s, nil
	}
	acts, err := readActivations(s.activationFile)
	if err != nil {
		return nil, err
	}
	var old map[string]*script.Worker
	if prev != nil && prev.script != nil {
		old = prev.script.workers
	}
	for _, cb := range cfg.Scripts.Bundles {
		tier, _ := script.TierByName(cb.Tier)
		b := &scriptBundle{name: cb.Name, versions: map[string]*script.Worker{}}
		for _, v := range cb.Versions {
			key := v.Hash + "/" + tier.Name
			w := old[key]
			if w == nil {
				bundle, err := script.LoadBundle(v.Path)
				if err != nil {
					return nil, fmt.Errorf("scripts: bundle %s version %s: %w", cb.Name, v.ID, err)
				}
				w, err = script.NewWorker(bundle, nil, script.Options{Tier: tier, Logger: g.log, Name: cb.Name})
				if err != nil {
					return nil, fmt.Errorf("scripts: bundle %s version %s: %w", cb.Name, v.ID, err)
				}
			}
			s.workers[key] = w
			b.versions[v.ID] = w
		}
		active := cb.Production
		if s.network == "staging" {
			active = cb.Staging
		}
		if id, ok := acts[s.network][cb.Name]; ok && b.versions[id] != nil {
			active = id
		}
		b.active.Store(&active)
		s.bundles[cb.Name] = b
	}
	for _, rc := range cfg.Routes {
		if rc.Script.Bundle == "" {
			continue
		}
		rs := &routeScript{cfg: rc.Script, bundle: s.bundles[rc.Script.Bundle]}
		if rs.bundle == nil || rs.bundle.worker(rc.Script.Version) == nil {
			return nil, fmt.Errorf("scripts: route %s: bundle %q version %q is not loaded", rc.Name, rc.Script.Bundle, rc.Script.Version)
		}
		if env := rc.Script.DebugTokenEnv; env != "" {
			rs.debugToken = os.Getenv(env)
		}
		s.routes[rc.Name] = rs
	}
	return s, nil
}

// compileEdgeKV builds the EdgeKV store, or keeps the previous
// snapshot's when its configuration (seed file content, namespaces,
// token) is the same.
func (s *scriptStage) compileEdgeKV(kvc *config.EdgeKV, prev *Snapshot) error {
	token := ""
	if kvc.TokenEnv != "" {
		token = os.Getenv(kvc.TokenEnv)
		if token == "" {
			// Fail closed: a configured token that is missing must not turn
			// into "any token is accepted".
			return fmt.Errorf("scripts.edgekv: environment variable %s (token_env) is empty", kvc.TokenEnv)
		}
	}
	sum := sha256.Sum256([]byte(token))
	s.kvKey = strings.Join([]string{kvc.DataFile, kvc.DataHash, strings.Join(kvc.Namespaces, ","), hex.EncodeToString(sum[:])}, "\x00")
	if prev != nil && prev.script != nil && prev.script.kv != nil && prev.script.kvKey == s.kvKey {
		s.kv = prev.script.kv
		return nil
	}
	s.kv = edgekv.New(edgekv.Options{Token: token})
	if kvc.DataFile != "" {
		if err := s.kv.LoadFile(kvc.DataFile); err != nil {
			return fmt.Errorf("scripts.edgekv: %w", err)
		}
	}
	for _, ns := range kvc.Namespaces {
		if err := s.kv.AddNamespace(ns); err != nil {
			return fmt.Errorf("scripts.edgekv: %w", err)
		}
	}
	return nil
}

// scriptState is one request's edge-script state (variables, cache-key
// changes, logs) carried in reqState.
type scriptState struct {
	rs  *routeScript
	w   *script.Worker
	req *script.Request
	// reqBuf and vars back req, so a request does not allocate them.
	reqBuf script.Request
	vars   script.Variables
	// debug is set when the request carries the route's debug token.
	debug bool
	// debugRP is debug with Pragma akamai-x-ew-debug-rp: the
	// responseProvider's debug output goes into the body (a second
	// multipart part) and the cache is bypassed.
	debugRP bool
	results []*script.Result
	// edit changes the response being delivered (set by
	// onOriginResponse/onClientResponse).
	edit responseEdit
	// outcome is the access log's script_status: the worst of the
	// request's handler runs (see noteOutcome); wall adds up their wall
	// time, for script_ms.
	outcome string
	wall    time.Duration
}

// The access log's script_status values (docs/access-log.md), from
// best to worst: a request's status is the worst of its handler runs.
const (
	scriptOK        = "ok"
	scriptResponded = "responded"
	scriptError     = "error"
	scriptTimeout   = "timeout"
)

func outcomeRank(o string) int {
	switch o {
	case scriptOK:
		return 1
	case scriptResponded:
		return 2
	case scriptError:
		return 3
	case scriptTimeout:
		return 4
	}
	return 0
}

// noteOutcome raises the request's script_status to o when o is worse.
func (s *scriptState) noteOutcome(o string) {
	if outcomeRank(o) > outcomeRank(s.outcome) {
		s.outcome = o
	}
}

// runOutcome is the script_status of one handler run.
func runOutcome(res *script.Result) string {
	switch res.Status {
	case script.StatusSuccess, script.StatusUnimplemented:
		return scriptOK
	case script.StatusCPUTimeout, script.StatusWallTimeout, script.StatusInitCPU, script.StatusInitWall:
		return scriptTimeout
	}
	return scriptError
}

// CacheKey is what onClientRequest asked of the cache key (nil: nothing).
func (s *scriptState) CacheKey() *script.CacheKey {
	if s.req == nil || !s.req.CacheKey.Changed() {
		return nil
	}
	return &s.req.CacheKey
}

// Variables are the request's PMUSER variables (nil without a script).
func (s *scriptState) Variables() *script.Variables {
	if s.req == nil {
		return nil
	}
	return s.req.Vars
}

type subrequestKey struct{}

// scriptClientRequest runs onClientRequest. handled is true when the
// script answered the request itself (respondWith).
func (g *Gateway) scriptClientRequest(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState) (handled bool, err error) {
	if snap.script == nil {
		return false, nil
	}
	rs := snap.script.routes[rt.Name()]
	if hdr := snap.script.locationHeader; hdr != "" {
		defer r.Header.Del(hdr) // never forwarded, whatever the script did
	}
	if rs == nil || r.Context().Value(subrequestKey{}) != nil {
		// Sub-requests do not run the target's script (Akamai runs it only
		// for subWorkers).
		return false, nil
	}
	sc := &st.script
	sc.rs = rs
	sc.w = rs.bundle.worker(rs.cfg.Version)
	tier := sc.w.Tier()
	vars := &sc.vars
	vars.Reset(tier.Variables)
	for _, v := range rs.cfg.Variables {
		_ = vars.Set(v.Name, v.Value)
	}
	req := &sc.reqBuf
	*req = script.Request{
		Method: r.Method, Scheme: st.hy.Scheme, Host: st.hy.Host, Path: st.hy.Path, Query: r.URL.RawQuery,
		Header: r.Header, Vars: vars,
		Origins: rs.originsFunc(snap),
		Sub:     snap.script.sub,
	}
	if st.hy.ClientIP.IsValid() {
		req.ClientIP = st.hy.ClientIP.String()
	}
	if hdr := snap.script.locationHeader; hdr != "" && st.hy.Trusted {
		req.Location = script.ParseLocation(r.Header.Get(hdr))
	}
	if req.Location == nil && snap.script.geo != nil {
		req.Location = snap.script.geo.Lookup(st.hy.ClientIP)
	}
	if snap.script.device {
		req.Device = script.DeviceFromUA(r.Header.Get("User-Agent"))
	}
	req.EdgegateFunc = func() map[string]any {
		return map[string]any{"requestId": st.id, "route": st.route, "identity": identityView(st.ident)}
	}
	sc.req = req

	if rs.debugToken != "" {
		pragma := strings.ToLower(strings.Join(r.Header.Values("Pragma"), ","))
		if tok := r.Header.Get(ewTraceHeader); tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(rs.debugToken)) == 1 &&
			strings.Contains(pragma, "akamai-x-ew") {
			sc.debug = true
			sc.debugRP = strings.Contains(pragma, "akamai-x-ew-debug-rp")
		}
	}
	r.Header.Del(ewTraceHeader) // a secret: never forwarded

	// The credential as the client sent it, for the fingerprint of a
	// script deny (the script may remove the header before refusing).
	authz := r.Header["Authorization"]
	res := g.runScript(r.Context(), sc, script.OnClientRequest, req, nil)
	if res.Failed() {
		if !rs.cfg.ContinueOnError {
			if err := g.scriptDeny(r, st, res, 0, authz); err != nil {
				return false, err
			}
			return false, g.scriptFailure(res, sc)
		}
		req.Reply, req.Route = nil, nil
	}
	if req.Reply != nil {
		sc.noteOutcome(scriptResponded)
		if req.Reply.Status >= 400 {
			// Under audit.policy fail_closed an unrecorded refusal is a 503.
			if err := g.scriptDeny(r, st, res, req.Reply.Status, authz); err != nil {
				return false, err
			}
		}
		h := w.Header()
		for k, vv := range req.Reply.Header {
			h[k] = vv
		}
		g.debugHeaders(h, sc)
		w.WriteHeader(req.Reply.Status)
		_, _ = w.Write(req.Reply.Body)
		return true, nil
	}
	return false, nil
}

// identityView is the read-only request.edgegate.identity: the verified
// caller (never a credential).
func identityView(id *identity.Identity) map[string]any {
	if id == nil || !id.Authenticated() {
		return map[string]any{"authenticated": false, "method": "anonymous"}
	}
	return map[string]any{
		"authenticated": true, "method": string(id.Method), "issuer": id.Issuer, "subject": id.Subject,
		"email": id.Email, "name": id.Name, "groups": id.Groups, "roles": id.Roles, "scopes": id.Scopes,
		"clientId": id.ClientID, "service": id.ServiceName,
	}
}

func (g *Gateway) runScript(ctx context.Context, sc *scriptState, h script.Handler, req *script.Request, resp *script.Response) *script.Result {
	var span trace.Span
	if g.tracer != nil && sc.w.Has(h) {
		// The handler's sub-requests become children of its span.
		ctx, span = g.tracer.stage(ctx, scriptSpanNames[h])
	}
	res := sc.w.Run(ctx, h, req, resp)
	sc.wall += res.Wall
	sc.noteOutcome(runOutcome(res))
	if span != nil {
		span.SetAttributes(attribute.String("edgegate.script.bundle", sc.rs.cfg.Bundle),
			attribute.String("edgegate.script.version", sc.w.Bundle().Version),
			attribute.String("edgegate.script.status", res.Status))
		if res.Failed() {
			span.SetStatus(codes.Error, "script."+res.Status)
		}
		span.End()
	}
	switch res.Status {
	case script.StatusUnimplemented:
	case script.StatusSuccess:
		runs, cpu := sc.rs.runs[h].Load(), sc.rs.cpu[h].Load()
		if runs == nil {
			c := g.metrics.Script.Runs.WithLabelValues(sc.rs.cfg.Bundle, h.String(), res.Status)
			o := g.metrics.Script.CPU.WithLabelValues(h.String())
			runs, cpu = &c, &o
			sc.rs.runs[h].Store(runs)
			sc.rs.cpu[h].Store(cpu)
		}
		(*runs).Inc()
		(*cpu).Observe(res.CPU.Seconds())
	default:
		g.metrics.Script.Runs.WithLabelValues(sc.rs.cfg.Bundle, h.String(), res.Status).Inc()
		g.metrics.Script.CPU.WithLabelValues(h.String()).Observe(res.CPU.Seconds())
	}
	if res.Failed() {
		g.log.Warn("edge script failed", "bundle", sc.rs.cfg.Bundle, "version", sc.w.Bundle().Version, "handler", h.String(), "status", res.Status, "err", res.Err)
	}
	if sc.debug || res.Failed() {
		sc.results = append(sc.results, res)
	}
	return res
}

func (g *Gateway) scriptFailure(res *script.Result, sc *scriptState) error {
	he := httperr.New(http.StatusInternalServerError, "script."+res.Status, "the edge script failed", res.Err)
	if sc.debug {
		he.Header = http.Header{}
		g.debugHeaders(he.Header, sc)
	}
	return he
}

// scriptDeny records a request refused by the route's edge script: a
// handler answered it with status (>= 400) itself, or failed (status 0)
// and the route does not continue on error. The rule names the bundle,
// version and handler ("auth@1.2.onClientRequest"); the credential, if
// any, appears as its fingerprint only (authz is the Authorization
// header as the client sent it). The error is the 503 to answer with
// instead when the decision cannot be recorded (audit.policy
// fail_closed).
func (g *Gateway) scriptDeny(r *http.Request, st *reqState, res *script.Result, status int, authz []string) error {
	if !g.auditing() {
		return nil
	}
	sc := &st.script
	version := sc.w.Bundle().Version
	e := audit.Event{
		Time: time.Now(), Kind: audit.KindScriptDeny, RequestID: st.id, Route: st.route,
		Method: r.Method, Host: st.hy.Host, Path: st.hy.Path,
		Rule:   sc.rs.cfg.Bundle + "@" + version + "." + res.Handler.String(),
		Detail: map[string]string{"bundle": sc.rs.cfg.Bundle, "version": version, "handler": res.Handler.String(), "script_status": res.Status},
	}
	if status == 0 {
		e.Decision, e.Reason = "fail", "script_error"
	} else {
		e.Decision, e.Reason = "deny", "script_respond_"+strconv.Itoa(status)
	}
	if st.hy.ClientIP.IsValid() {
		e.ClientIP = st.hy.ClientIP.String()
	}
	if id := st.ident; id != nil && id.Authenticated() {
		e.Subject, e.Issuer, e.Roles, e.Fingerprint = id.Subject, id.Issuer, id.Roles, id.Fingerprint
	} else if tok, aerr := bearerToken(authz); aerr == nil {
		// A script that verifies tokens itself (the JWT example): the
		// gateway never saw a verified caller, so it names the token
		// by its fingerprint.
		e.Fingerprint = identity.Fingerprint(tok)
	}
	return g.record(r.Context(), e)
}

// debugHeaders adds the X-Akamai-EdgeWorker-* headers when debugging.
func (g *Gateway) debugHeaders(h http.Header, sc *scriptState) {
	if !sc.debug {
		return
	}
	for _, res := range sc.results {
		g.debugResult(h, sc, res)
	}
	h.Set("X-Powered-By", "Akamai EdgeWorkers")
	sc.results = sc.results[:0]
}

// debugResult adds the debug headers of one handler run to h.
func (g *Gateway) debugResult(h http.Header, sc *scriptState, res *script.Result) {
	b := sc.w.Bundle()
	name := res.Handler.String()
	if res.Handler == script.ResponseProvider {
		name = "ResponseProvider"
	}
	status := "Success"
	if res.Failed() {
		status = res.Status
	}
	info := fmt.Sprintf("ew=%s v%s:%s; status=%s", sc.rs.cfg.Bundle, b.Version, sc.rs.cfg.Bundle, status)
	if res.Err != nil {
		info += "; status_msg=" + strconv.Quote(headerSafe(res.Err.Error()))
	}
	info += fmt.Sprintf("; res_tier=%s; init_wall_time=%.3f; wall_time=%.3f; init_cpu_time=%.3f; cpu_time=%.3f; memory_usage=%d",
		sc.w.Tier().Name, ms(sc.w.InitTime()), ms(res.Wall), ms(sc.w.InitTime()), ms(res.CPU), res.Memory)
	h.Set("X-Akamai-EdgeWorker-"+name+"-Info", info)
	if len(res.Logs) > 0 {
		parts := make([]string, len(res.Logs))
		for i, l := range res.Logs {
			parts[i] = l.String()
		}
		h.Set("X-Akamai-EdgeWorker-"+name+"-Log", strings.Join(parts, "|"))
	}
	if len(res.Subrequests) > 0 {
		var parts []string
		for i, s := range res.Subrequests {
			parts = append(parts, fmt.Sprintf("ew=%s; evt=%s; id=%d; method=%q; url=%q; rsp=%d; dur=%.3f", sc.rs.cfg.Bundle, name, i+1, s.Method, headerSafe(s.URL), s.Status, ms(s.Duration)))
		}
		h.Add("X-Akamai-Edgeworker-Subrequests", strings.Join(parts, ", "))
	}
}

// takeResult removes res from the results waiting for debug headers (its
// output goes into the body instead).
func (sc *scriptState) takeResult(res *script.Result) {
	for i, r := range sc.results {
		if r == res {
			sc.results = append(sc.results[:i], sc.results[i+1:]...)
			return
		}
	}
}

// rpStatusField names the responseProvider status in the multipart debug
// output. As on Akamai it says success even when the responseProvider
// failed: while debugging, the failure is shown instead of falling back to
// the origin (the real status is in the Info line).
const rpStatusField = "AK_EDGEWORKERS_RP_STATUS"

// debugMultipart answers a responseProvider run under Pragma
// akamai-x-ew-debug-rp: a multipart/mixed body whose first part is the
// response the script made (nothing when it failed) and whose second part
// is the debug output (Info, Log and sub-request lines, and
// AK_EDGEWORKERS_RP_STATUS). A stream body is sent as it comes; its end
// status is in the debug part, which always closes the body properly.
func (g *Gateway) debugMultipart(ctx context.Context, w http.ResponseWriter, res *script.Result, sc *scriptState) error {
	sc.takeResult(res)
	rep := res.Provided
	status := http.StatusOK
	part := textproto.MIMEHeader{}
	if rep != nil {
		status = rep.Status
		if ct := w.Header().Get("Content-Type"); ct != "" {
			part.Set("Content-Type", ct)
		}
		if rep.Stream != nil {
			defer rep.Stream.Close()
		}
	}
	h := w.Header()
	mw := multipart.NewWriter(w)
	h.Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-store")
	g.debugHeaders(h, sc)
	w.WriteHeader(status)
	pw, err := mw.CreatePart(part)
	if err != nil {
		return err
	}
	final := *res
	switch {
	case rep != nil && rep.Stream != nil:
		for {
			chunk, err := rep.Stream.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				final.Status, final.Err = rep.Stream.Status(), err
				break
			}
			if _, err := pw.Write(chunk); err != nil {
				return fmt.Errorf("responseProvider body: %w", err)
			}
		}
	case rep != nil:
		if _, err := pw.Write(rep.Body); err != nil {
			return fmt.Errorf("responseProvider body: %w", err)
		}
	}
	dh := http.Header{}
	g.debugResult(dh, sc, &final)
	dw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}, "X-Akamai-EdgeWorker-Debug": {"responseProvider"}})
	if err != nil {
		return err
	}
	// Header-style lines with Akamai's spelling of the names.
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(dh)) {
		name := strings.Replace(k, "X-Akamai-Edgeworker-Responseprovider-", "X-Akamai-EdgeWorker-ResponseProvider-", 1)
		for _, v := range dh[k] {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	b.WriteString(rpStatusField + ": " + script.StatusSuccess + "\r\n")
	if _, err := io.WriteString(dw, b.String()); err != nil {
		return err
	}
	return mw.Close()
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// originFetch produces the response of a cache miss into w: onOriginRequest,
// then responseProvider or the origin, then onOriginResponse.
func (g *Gateway) originFetch(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState, t *proxy.Target) error {
	sc := &st.script
	if sc.req == nil || (sc.req.Route == nil && !sc.debug && !sc.w.Has(script.ResponseProvider) && !sc.w.Has(script.OnOriginRequest) &&
		!sc.w.Has(script.OnOriginResponse) && !sc.w.Has(script.OnClientResponse)) {
		// Nothing of the script applies past this point.
		res, err := g.fwd.Forward(w, r, t)
		st.fwd = res
		return err
	}
	if rc := sc.req.Route; rc != nil {
		if rc.Origin != nil {
			name := *rc.Origin
			if p, ok := sc.rs.cfg.Origins[name]; ok {
				name = p
			}
			if pool := snap.Pools.Pool(name); pool != nil {
				t.Pool = pool
			}
		}
		if rc.Path != nil {
			t.Path = *rc.Path
		}
		if rc.Query != nil {
			t.RawQuery = *rc.Query
		}
	}
	sw := &scriptWriter{ResponseWriter: w, edit: &sc.edit}
	ctx := r.Context()

	if sc.w.Has(script.ResponseProvider) {
		body, err := readBody(r)
		if err != nil {
			return err
		}
		preq := *sc.req
		preq.Body = body
		res := g.runScript(ctx, sc, script.ResponseProvider, &preq, nil)
		if sc.debugRP {
			// The debug output is the response, also of a failure
			// (AK_EDGEWORKERS_RP_STATUS says success while debugging).
			status, h := http.StatusOK, http.Header{}
			if res.Status == script.StatusSuccess && res.Provided != nil {
				status, h = res.Provided.Status, res.Provided.Header.Clone()
			}
			sc.takeResult(res)
			if t.EditResponse != nil {
				t.EditResponse(status, h)
			}
			dst := sw.Header()
			for k, vv := range h {
				dst[k] = vv
			}
			st.fwd = proxy.Result{Pool: "script:" + sc.rs.cfg.Bundle, Status: status}
			if res.Status != script.StatusSuccess {
				res.Provided = nil
			}
			return g.debugMultipart(ctx, sw, res, sc)
		}
		if res.Status == script.StatusSuccess && res.Provided != nil {
			sc.noteOutcome(scriptResponded)
			rep := res.Provided
			h := rep.Header.Clone()
			if t.EditResponse != nil {
				t.EditResponse(rep.Status, h)
			}
			dst := sw.Header()
			for k, vv := range h {
				dst[k] = vv
			}
			g.debugHeaders(dst, sc)
			st.fwd = proxy.Result{Pool: "script:" + sc.rs.cfg.Bundle, Status: rep.Status}
			if rep.Stream != nil {
				return g.streamReply(ctx, sw, rep, sc)
			}
			sw.WriteHeader(rep.Status)
			_, err := sw.Write(rep.Body)
			return err
		}
		// A failed responseProvider falls back to the origin.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}

	if sc.w.Has(script.OnOriginRequest) {
		oreq := *sc.req
		oreq.Header = r.Header.Clone()
		oreq.Reply = nil
		authz := oreq.Header["Authorization"]
		res := g.runScript(ctx, sc, script.OnOriginRequest, &oreq, nil)
		switch {
		case res.Failed() && !sc.rs.cfg.ContinueOnError:
			if err := g.scriptDeny(r, st, res, 0, authz); err != nil {
				return err
			}
			return g.scriptFailure(res, sc)
		case res.Failed():
		case oreq.Reply != nil:
			sc.noteOutcome(scriptResponded)
			if oreq.Reply.Status >= 400 {
				if err := g.scriptDeny(r, st, res, oreq.Reply.Status, authz); err != nil {
					return err
				}
			}
			h := oreq.Reply.Header.Clone()
			if t.EditResponse != nil {
				t.EditResponse(oreq.Reply.Status, h)
			}
			for k, vv := range h {
				sw.Header()[k] = vv
			}
			g.debugHeaders(sw.Header(), sc)
			sw.WriteHeader(oreq.Reply.Status)
			_, err := sw.Write(oreq.Reply.Body)
			return err
		default:
			r.Header = oreq.Header // only the outgoing request sees the changes
		}
	}

	edit := t.EditResponse
	t.EditResponse = func(status int, h http.Header) {
		if sc.w.Has(script.OnOriginResponse) {
			resp := &script.Response{Status: status, Header: h}
			oreq := *sc.req
			oreq.Reply = nil
			res := g.runScript(ctx, sc, script.OnOriginResponse, &oreq, resp)
			switch {
			case res.Failed() && !sc.rs.cfg.ContinueOnError:
				// no-store: a failure must not become the cached answer.
				sc.edit.replace = &script.Reply{Status: http.StatusInternalServerError, Header: http.Header{"Cache-Control": {"no-store"}}, Body: []byte("edge script failed\n")}
			case res.Failed():
			case oreq.Reply != nil:
				sc.noteOutcome(scriptResponded)
				sc.edit.replace = oreq.Reply
			default:
				if resp.Status != status {
					sc.edit.status = resp.Status
					status = resp.Status
				}
			}
		}
		if edit != nil {
			edit(status, h)
		}
		g.debugHeaders(h, sc)
	}
	res, err := g.fwd.Forward(sw, r, t)
	st.fwd = res
	return err
}

// streamReply sends a createResponse whose body is a ReadableStream: the
// header goes out at once (as on Akamai), then each chunk as the script
// yields it. A failure mid-stream cannot change the status any more: the
// connection is cut so the client sees a truncated body, never a short one
// that looks complete.
func (g *Gateway) streamReply(ctx context.Context, w http.ResponseWriter, rep *script.Reply, sc *scriptState) error {
	defer rep.Stream.Close()
	w.Header().Del("Content-Length")
	w.WriteHeader(rep.Status)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	for {
		chunk, err := rep.Stream.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			g.metrics.Script.Runs.WithLabelValues(sc.rs.cfg.Bundle, "responseProvider.stream", rep.Stream.Status()).Inc()
			sc.noteOutcome(runOutcome(&script.Result{Status: rep.Stream.Status()}))
			g.log.Warn("edge script stream failed", "bundle", sc.rs.cfg.Bundle, "version", sc.w.Bundle().Version, "err", err)
			return fmt.Errorf("responseProvider body: %w: %w", proxy.ErrAborted, err)
		}
		if len(chunk) == 0 {
			continue
		}
		if _, err := w.Write(chunk); err != nil {
			return fmt.Errorf("responseProvider body: %w", err)
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRPBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, httperr.New(http.StatusBadRequest, "script.body", "could not read the request body", err)
	}
	if len(b) > maxRPBody {
		return nil, httperr.New(http.StatusRequestEntityTooLarge, "script.body", "request body too large for responseProvider", nil)
	}
	return b, nil
}

// responseEdit is what a response handler decided about the response
// being delivered: a new status, or a whole replacement (respondWith, or a
// failure's 500).
type responseEdit struct {
	status  int
	replace *script.Reply
}

// scriptWriter applies a responseEdit to what is written through it: on
// the origin side (what a cached route stores) and, on cached routes, for
// each client again with onClientResponse's own edit.
type scriptWriter struct {
	http.ResponseWriter
	edit     *responseEdit
	replaced bool
}

func (w *scriptWriter) WriteHeader(code int) {
	switch rep := w.edit.replace; {
	case w.replaced:
		return
	case code < 200:
		// Interim responses pass before any handler decides anything.
	case rep != nil:
		h := w.ResponseWriter.Header()
		for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Range", "Etag", "Last-Modified", "Content-Type", "Trailer"} {
			delete(h, k)
		}
		for k, vv := range rep.Header {
			h[k] = vv
		}
		w.replaced = true
		w.ResponseWriter.WriteHeader(rep.Status)
		_, _ = w.ResponseWriter.Write(rep.Body)
		return
	case w.edit.status != 0:
		code = w.edit.status
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *scriptWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *scriptWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.replaced {
		f.Flush()
	}
}

func (w *scriptWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientResponse runs onClientResponse on a response about to be sent (a
// cache hit or a miss), before its header is written.
func (g *Gateway) clientResponse(status int, h http.Header, snap *Snapshot, rt *route.Route, st *reqState) {
	sc := &st.script
	if sc.req == nil || !sc.w.Has(script.OnClientResponse) {
		return
	}
	if sc.edit.status != 0 {
		status = sc.edit.status
	}
	resp := &script.Response{Status: status, Header: h}
	creq := *sc.req
	creq.Reply = nil
	res := g.runScript(st.ctx, sc, script.OnClientResponse, &creq, resp)
	switch {
	case res.Failed() && !sc.rs.cfg.ContinueOnError:
		sc.edit.replace = &script.Reply{Status: http.StatusInternalServerError, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte("edge script failed\n")}
	case res.Failed():
	case creq.Reply != nil:
		sc.noteOutcome(scriptResponded)
		sc.edit.replace = creq.Reply
	case resp.Status != status:
		sc.edit.status = resp.Status
	}
	g.debugHeaders(h, sc)
}

// gatewaySub runs sub-requests through the gateway's own routes.
type gatewaySub struct{ g *Gateway }

func (s *gatewaySub) Do(ctx context.Context, sr *script.SubRequest) (*script.SubResponse, error) {
	var body io.Reader = http.NoBody
	if len(sr.Body) > 0 {
		body = bytes.NewReader(sr.Body)
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, subrequestKey{}, true), sr.Method, sr.URL, body)
	if err != nil {
		return nil, fmt.Errorf("sub-request: %w", err)
	}
	req.Header = sr.Header
	// In process there is no wire, so no HTTP/1 framing to guard.
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
	req.RemoteAddr = "127.0.0.1:0"
	req.RequestURI = req.URL.RequestURI()
	if req.URL.Scheme == "https" {
		req.TLS = nil
	}
	rec := &bufferWriter{header: http.Header{}, max: sr.MaxBody}
	s.g.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.over {
		return nil, fmt.Errorf("sub-request to URL %s: response larger than %d bytes", sr.URL, sr.MaxBody)
	}
	return &script.SubResponse{Status: rec.status, Header: rec.header, Body: rec.buf.Bytes()}, nil
}

// bufferWriter is an in-memory ResponseWriter for sub-requests.
type bufferWriter struct {
	mu     sync.Mutex
	header http.Header
	status int
	buf    bytes.Buffer
	max    int64
	over   bool
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 && code >= 200 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.max > 0 && int64(b.buf.Len()+len(p)) > b.max {
		b.over = true
		return 0, errors.New("sub-request response too large")
	}
	return b.buf.Write(p)
}

// registerScriptAdmin adds the script endpoints to the admin listener:
// POST /scripts/activate?bundle=NAME&version=ID[&network=production|staging]
// switches a bundle's active version at once and records it in the
// activation file; GET /scripts lists bundles and active versions.
func (g *Gateway) registerScriptAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /scripts", func(w http.ResponseWriter, r *http.Request) {
		s := g.snap.Load().script
		out := map[string]any{}
		if s != nil {
			for name, b := range s.bundles {
				vs := []string{}
				for id := range b.versions {
					vs = append(vs, id)
				}
				out[name] = map[string]any{"active": *b.active.Load(), "versions": vs, "network": s.network}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /scripts/activate", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name, version, network := q.Get("bundle"), q.Get("version"), q.Get("network")
		s := g.snap.Load().script
		if network == "" && s != nil {
			network = s.network
		}
		ev := adminEvent(r, "scripts.activate")
		ev.Detail = map[string]string{"bundle": name, "version": version, "network": network}
		if network != "production" && network != "staging" {
			ev.Decision, ev.Reason = "deny", "bad_network"
			if err := g.record(r.Context(), ev); err != nil {
				adminAuditError(w, err)
				return
			}
			http.Error(w, "network must be production or staging", http.StatusBadRequest)
			return
		}
		if err := g.activateScript(r.Context(), ev); err != nil {
			var he *httperr.Error
			switch {
			case errors.As(err, &he):
				adminAuditError(w, err)
			case errors.Is(err, errNoBundle), errors.Is(err, errNoVersion):
				http.Error(w, err.Error(), http.StatusBadRequest)
			default:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"bundle": name, "version": version, "network": network})
	})
}

// ActivateScript makes version the active version of bundle on network:
// it is recorded in the activation file and, when network is the one
// served, takes effect at once. A version that is not loaded is refused
// and the active one stays.
func (g *Gateway) ActivateScript(bundle, version, network string) error {
	ev := audit.Event{Kind: audit.KindAdmin, Rule: "scripts.activate",
		Detail: map[string]string{"bundle": bundle, "version": version, "network": network}}
	return g.activateScript(context.Background(), ev)
}

// Why an activation is refused (the admin endpoint answers 400).
var (
	errNoBundle  = errors.New("no such bundle")
	errNoVersion = errors.New("no such loaded version")
)

// activateScript carries out the activation ev describes (its Detail
// names bundle, version and network) and records it in the audit trail:
// a refusal as a deny, a success as an allow recorded before anything
// changes, so under audit.policy fail_closed no activation takes effect
// unrecorded (the error then wraps audit.ErrUnavailable).
func (g *Gateway) activateScript(ctx context.Context, ev audit.Event) error {
	bundle, version, network := ev.Detail["bundle"], ev.Detail["version"], ev.Detail["network"]
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	refuse := func(reason string, err error) error {
		ev.Decision, ev.Reason = "deny", reason
		if rerr := g.record(ctx, ev); rerr != nil {
			return rerr
		}
		return err
	}
	s := g.snap.Load().script
	if s == nil || s.bundles[bundle] == nil {
		return refuse("no_bundle", fmt.Errorf("%w %q", errNoBundle, bundle))
	}
	b := s.bundles[bundle]
	if b.versions[version] == nil {
		return refuse("no_version", fmt.Errorf("bundle %q: %w %q", bundle, errNoVersion, version))
	}
	if from := b.active.Load(); from != nil && network == s.network {
		ev.Detail["previous_version"] = *from
	}
	ev.Decision, ev.Reason = "allow", "activated"
	if err := g.record(ctx, ev); err != nil {
		return err
	}
	if err := WriteActivation(s.activationFile, network, bundle, version); err != nil {
		ev.Time = time.Time{}
		ev.Decision, ev.Reason = "fail", "write_failed"
		if rerr := g.record(ctx, ev); rerr != nil {
			g.log.Warn("failed activation not audited", "err", rerr.Error())
		}
		return err
	}
	if network == s.network {
		b.active.Store(&version)
	}
	g.log.Info("edge script activated", "bundle", bundle, "version", version, "network", network)
	return nil
}

// WriteActivation records an activation in the activation file (atomic
// rename).
func WriteActivation(file, network, bundle, version string) error {
	acts, err := readActivations(file)
	if err != nil {
		return err
	}
	if acts[network] == nil {
		acts[network] = map[string]string{}
	}
	acts[network][bundle] = version
	data, _ := json.MarshalIndent(acts, "", "  ")
	tmp := filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+"."+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write activation file: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write activation file: %w", err)
	}
	return nil
}
