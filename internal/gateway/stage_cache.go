package gateway

import (
	"slices"

	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/internal/script"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/cache"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/proxy"
	"github.com/edgegate/edgegate/internal/route"
	"github.com/prometheus/client_golang/prometheus"
)

// cacheState is the gateway-lifetime cache storage (it survives reloads):
// storage sizes and the disk path take effect at start.
type cacheState struct {
	store *cache.Store
	c     *cache.Cache
	// purger carries out purges; a fan-out to other nodes can wrap the
	// local store here without changing the admin API.
	purger cache.Purger
}

func (g *Gateway) initCache(cfg *config.Config) error {
	m := g.metrics.Cache
	store, err := cache.NewStore(cache.StoreOptions{
		MaxBytes:     cfg.Cache.MemoryMaxBytes,
		DiskPath:     cfg.Cache.DiskPath,
		DiskMaxBytes: cfg.Cache.DiskMaxBytes,
		Logger:       g.log,
		Hooks: cache.Hooks{
			Evicted:   func(tier string) { m.Evictions.WithLabelValues(tier).Inc() },
			Bytes:     func(tier string, n int64) { m.Bytes.WithLabelValues(tier).Set(float64(n)) },
			DiskError: func() { m.DiskErrors.Inc() },
		},
	})
	if err != nil {
		return fmt.Errorf("edge cache: %w", err)
	}
	results := &cacheResultCounters{vec: m.Requests}
	c, err := cache.New(cache.Options{
		Store:           store,
		CollapseTimeout: cfg.Cache.CollapseTimeout,
		Logger:          g.log,
		Result:          results.inc,
		Collapsed:       m.Collapsed.Inc,
	})
	if err != nil {
		store.Close()
		return fmt.Errorf("edge cache: %w", err)
	}
	g.cache = &cacheState{store: store, c: c, purger: store}
	return nil
}

// cacheResultCounters are the edgegate_cache_requests_total children of
// the statuses the cache reports, each resolved on first use rather than by
// label hashing per request (issue #2).
type cacheResultCounters struct {
	vec      *prometheus.CounterVec
	statuses [6]atomic.Pointer[prometheus.Counter]
}

var cacheStatuses = [6]string{cache.StatusHit, cache.StatusMiss, cache.StatusStale, cache.StatusRevalidated, cache.StatusBypass, cache.StatusUncacheable}

func (rc *cacheResultCounters) inc(status string) {
	i := slices.Index(cacheStatuses[:], status)
	if i < 0 {
		rc.vec.WithLabelValues(status).Inc()
		return
	}
	p := rc.statuses[i].Load()
	if p == nil {
		c := rc.vec.WithLabelValues(status)
		p = &c
		rc.statuses[i].Store(p)
	}
	(*p).Inc()
}

func (g *Gateway) closeCache() {
	if g.cache == nil {
		return
	}
	g.cache.c.Wait()
	g.cache.store.Close()
}

// cacheStage is the compiled cache policy of one snapshot.
type cacheStage struct {
	routes map[string]*cache.Route
}

func compileCache(cfg *config.Config, prev *Snapshot, g *Gateway) (*cacheStage, error) {
	cs := &cacheStage{routes: map[string]*cache.Route{}}
	// What the gateway tells origins about the caller is never stored,
	// whatever the origin echoes back (session cookies cannot be: a
	// response with Set-Cookie is not stored at all).
	strip := append([]string{http.CanonicalHeaderKey(cfg.Assertion.Header)}, identityHeaders[:]...)
	for i := range cfg.Routes {
		rc := cfg.Routes[i].Cache
		if !rc.Enabled {
			continue
		}
		cs.routes[cfg.Routes[i].Name] = &cache.Route{
			Key: cache.KeySpec{
				QueryNone: rc.QueryNone, QueryArgs: rc.QueryArgs, Headers: rc.Headers,
				Cookies: rc.Cookies, Variables: rc.Variables, PerIdentity: rc.PerIdentity,
			},
			Rules: cache.Rules{
				TTLOverride:           rc.TTLOverride,
				HonorCDNCacheControl:  rc.HonorCDNCacheControl,
				HonorSurrogateControl: rc.HonorSurrogateControl,
				Heuristic:             cfg.Cache.Heuristic,
				Strip:                 strip,
			},
			MaxObjectBytes: cfg.Cache.MaxObjectBytes,
		}
	}
	return cs, nil
}

// fetch answers from the cache or, on a miss, from g.originFetch, storing
// what may be stored. Every response it delivers, hit or miss, passes
// through g.clientResponse before its header is written.
func (g *Gateway) fetch(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState, t *proxy.Target) error {
	var cr *cache.Route
	if snap.cache != nil && g.cache != nil {
		cr = snap.cache.routes[rt.Name()]
	}
	if cr == nil || st.script.debugRP { // responseProvider debugging bypasses the cache
		// Without the cache, the origin's response gets the client-side
		// edits as the forwarder copies it.
		st.hooks.clientResponse = true
		if st.script.req != nil {
			hooksAsFuncs(t)
		}
		return g.originFetch(w, r, snap, rt, st, t)
	}
	if st.script.req != nil {
		hooksAsFuncs(t)
	}
	id := st.ident
	if id == nil {
		id = &identity.Anonymous
	}
	req := cache.Request{
		R: r, Scheme: st.hy.Scheme, Host: st.hy.Host, Path: st.hy.Path,
		Authenticated: id.Authenticated(), Issuer: id.Issuer, Subject: id.Subject,
	}
	if vars := st.script.Variables(); vars != nil {
		req.Vars = func(name string) string { v, _ := vars.Get(name); return v }
	}
	// What onClientRequest did with request.cacheKey applies to this
	// request only: a copy of the route's key, changed.
	if ck := st.script.CacheKey(); ck != nil {
		cr = withScriptKey(cr, ck, sessionCookieName(snap.Config))
	}
	origin := func(w http.ResponseWriter, r *http.Request, background bool) error {
		if background {
			// A revalidation nobody waits for: its own request state, so
			// the finished request's record is not touched.
			bst, bt := *st, *t
			return g.originFetch(w, r, snap, rt, &bst, &bt)
		}
		return g.originFetch(w, r, snap, rt, st, t)
	}
	cw := &scriptWriter{ResponseWriter: w, edit: &responseEdit{}}
	deliver := func(status int, h http.Header) {
		// The stored copy is taken before this. The origin side has
		// already applied onOriginResponse's status or replacement to
		// what is delivered (status is theirs); what onClientResponse
		// decides now is for this client only, and cw applies it.
		sc := &st.script
		sc.edit = responseEdit{}
		g.clientResponse(status, h, snap, rt, st)
		*cw.edit, sc.edit = sc.edit, responseEdit{}
	}
	_, span := g.tracer.stage(st.ctx, cacheSpanName)
	status, err := g.cache.c.Serve(cw, &req, cr, origin, deliver)
	endCacheSpan(span, status, err)
	st.cacheStatus = status
	return err
}

// sessionCookieName is the login session cookie's name (the default when
// login is off: a cookie of that name is still never a key part).
func sessionCookieName(cfg *config.Config) string {
	if cfg != nil && cfg.Login != nil && cfg.Login.CookieName != "" {
		return cfg.Login.CookieName
	}
	return config.DefaultLoginCookieName
}

// hooksAsFuncs moves t's callbacks from t.Hooks to its func fields, for
// the edge-script paths (stage_script.go), which call and wrap those. A
// plain forward keeps t.Hooks and allocates no closures.
func hooksAsFuncs(t *proxy.Target) {
	h := t.Hooks
	if h == nil {
		return
	}
	t.Hooks = nil
	t.EditRequest, t.EditResponse, t.OnUpgrade = h.EditRequest, h.EditResponse, h.OnUpgrade
}

// purgeToken reads the configured purge token now, so a rotated file or
// environment takes effect without a reload. ok is false when the purge
// API is off.
func purgeToken(c config.Cache) (tok string, ok bool, err error) {
	switch {
	case c.PurgeTokenEnv != "":
		return os.Getenv(c.PurgeTokenEnv), true, nil
	case c.PurgeTokenFile != "":
		b, err := os.ReadFile(c.PurgeTokenFile)
		if err != nil {
			return "", true, fmt.Errorf("read purge token file: %w", err)
		}
		return strings.TrimSpace(string(b)), true, nil
	}
	return "", false, nil
}

// registerCacheAdmin adds the purge API to the admin listener.
func (g *Gateway) registerCacheAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /cache/purge", g.servePurge)
}

func (g *Gateway) servePurge(w http.ResponseWriter, r *http.Request) {
	m := g.metrics.Cache
	snap := g.snap.Load()
	reply := func(status int, result string, body any) {
		m.Purges.WithLabelValues(result).Inc()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	type errBody struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	want, on, err := purgeToken(snap.Config.Cache)
	if !on || g.cache == nil {
		reply(http.StatusNotFound, "denied", errBody{"purge.off", "the purge API is not configured (cache.purge)"})
		return
	}
	if err != nil || want == "" {
		g.log.Error("purge token unavailable", "err", err)
		reply(http.StatusServiceUnavailable, "error", errBody{"purge.no_token", "the purge token is not available"})
		return
	}
	got, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	event := audit.Event{Time: time.Now(), Kind: audit.KindPurge, Method: r.Method, Path: r.URL.Path, ClientIP: clientHost(r.RemoteAddr)}
	if !hasBearer || got == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="edgegate-admin"`)
		event.Decision, event.Reason = "deny", "no_token"
		_ = g.record(r.Context(), event)
		reply(http.StatusUnauthorized, "denied", errBody{"purge.unauthenticated", "a bearer token is required"})
		return
	}
	event.Fingerprint = identity.Fingerprint(got)
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		event.Decision, event.Reason = "deny", "bad_token"
		_ = g.record(r.Context(), event)
		reply(http.StatusForbidden, "denied", errBody{"purge.forbidden", "the token is not the purge token"})
		return
	}
	var req cache.PurgeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(http.StatusBadRequest, "invalid", errBody{"purge.bad_request", "the body must be JSON {urls|prefixes|tags, mode}: " + err.Error()})
		return
	}
	if err := req.Check(); err != nil {
		reply(http.StatusBadRequest, "invalid", errBody{"purge.bad_request", err.Error()})
		return
	}
	mode := req.Mode
	if mode == "" {
		mode = cache.PurgeInvalidate
	}
	// The decision is recorded before the purge runs: under fail_closed a
	// purge that cannot be audited does not happen.
	event.Decision, event.Reason = "allow", "purge"
	event.Detail = map[string]string{
		"mode": string(mode), "urls": strings.Join(req.URLs, " "), "prefixes": strings.Join(req.Prefixes, " "),
		"tags": strings.Join(req.Tags, " "),
	}
	if err := g.record(r.Context(), event); err != nil {
		g.log.Warn("purge refused: the audit trail cannot record it", "err", err)
		w.Header().Set("Retry-After", "5")
		reply(http.StatusServiceUnavailable, "error", errBody{"purge.audit_unavailable", "the purge cannot be audited right now; try again later"})
		return
	}
	res, err := g.cache.purger.Purge(r.Context(), req)
	if err != nil {
		if errors.Is(err, cache.ErrBadPurge) {
			reply(http.StatusBadRequest, "invalid", errBody{"purge.bad_request", err.Error()})
			return
		}
		reply(http.StatusInternalServerError, "error", errBody{"purge.failed", "the purge failed"})
		return
	}
	g.log.Info("cache purged", "mode", string(mode), "keys", res.Keys, "fingerprint", event.Fingerprint)
	reply(http.StatusOK, "ok", struct {
		Purged int             `json:"purged"`
		Mode   cache.PurgeMode `json:"mode"`
	}{res.Keys, mode})
}

func clientHost(remote string) string {
	if i := strings.LastIndexByte(remote, ':'); i > 0 {
		return strings.Trim(remote[:i], "[]")
	}
	return remote
}

// withScriptKey applies an EdgeWorkers cacheKey change (includeQueryString,
// excludeQueryString, includeQueryArgument, includeCookie, includeHeader,
// includeVariable) to a copy of the route's cache settings. Credentials
// are refused as the configuration refuses them: the Authorization and
// Cookie headers, and the login session cookie (and its -login companion).
func withScriptKey(cr *cache.Route, ck *script.CacheKey, sessionCookie string) *cache.Route {
	out := *cr
	k := &out.Key
	switch ck.QueryString {
	case "exclude":
		k.QueryNone, k.QueryArgs = true, nil
	case "include":
		k.QueryNone, k.QueryArgs = false, nil
	}
	if len(ck.QueryArgs) > 0 {
		k.QueryNone = false
		k.QueryArgs = appendNew(slices.Clone(k.QueryArgs), ck.QueryArgs)
	}
	// Credentials never join a key (a key can reach the disk tier).
	var hs []string
	for _, h := range ck.Headers {
		switch http.CanonicalHeaderKey(h) {
		case "Authorization", "Proxy-Authorization", "Cookie":
		default:
			hs = append(hs, h)
		}
	}
	k.Headers = appendNew(slices.Clone(k.Headers), hs)
	var cs []string
	for _, c := range ck.Cookies {
		if c != sessionCookie && c != sessionCookie+"-login" {
			cs = append(cs, c)
		}
	}
	k.Cookies = appendNew(slices.Clone(k.Cookies), cs)
	k.Variables = appendNew(slices.Clone(k.Variables), ck.Variables)
	return &out
}

func appendNew(dst, add []string) []string {
	for _, a := range add {
		if !slices.Contains(dst, a) {
			dst = append(dst, a)
		}
	}
	return dst
}
