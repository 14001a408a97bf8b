package cache

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status values for the access log's cache_status (and the metrics).
const (
	StatusHit         = "hit"
	StatusMiss        = "miss"
	StatusStale       = "stale"
	StatusRevalidated = "revalidated"
	StatusBypass      = "bypass"
	StatusUncacheable = "uncacheable"
)

// CacheStatusName is this cache's name in the Cache-Status field (RFC 9211).
const CacheStatusName = "edgegate"

// Options configures a Cache.
type Options struct {
	Store *Store
	// CollapseTimeout bounds how long a request waits for another request's
	// origin fetch of the same key before going to the origin itself.
	CollapseTimeout time.Duration
	Logger          *slog.Logger
	// Result, when set, is called once per request with its status.
	Result func(status string)
	// Collapsed, when set, is called for every request that waited for
	// another one's fetch.
	Collapsed func()
}

// Cache is an RFC 9111 shared cache in front of an origin. It is safe for
// concurrent use; one Cache serves every snapshot of a gateway.
type Cache struct {
	store    *Store
	collapse time.Duration
	log      *slog.Logger
	result   func(string)
	onWait   func()

	mu      sync.Mutex
	flights map[string]*flight
	bg      sync.WaitGroup
	now     func() time.Time
}

// New returns a Cache over o.Store.
func New(o Options) (*Cache, error) {
	if o.Store == nil {
		return nil, errors.New("cache: no store")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ct := o.CollapseTimeout
	if ct <= 0 {
		ct = 5 * time.Second
	}
	return &Cache{store: o.Store, collapse: ct, log: log, result: o.Result, onWait: o.Collapsed, flights: map[string]*flight{}, now: time.Now}, nil
}

// Store returns the cache's storage (the local Purger).
func (c *Cache) Store() *Store { return c.store }

// Wait blocks until background revalidations have finished.
func (c *Cache) Wait() { c.bg.Wait() }

// Route is a route's compiled cache policy.
type Route struct {
	Key            KeySpec
	Rules          Rules
	MaxObjectBytes int64
}

// Request is one client request as the cache needs it.
type Request struct {
	R *http.Request
	// Scheme, Host and Path are the sanitized request target.
	Scheme, Host, Path string
	// Authenticated is true for a caller verified by the gateway (a session
	// or a token); Issuer and Subject name it.
	Authenticated   bool
	Issuer, Subject string
	// Vars reads the request's PMUSER_ variables; may be nil.
	Vars func(name string) string
}

// Origin produces the response to r into w. background is true for a
// revalidation that no client waits for.
type Origin func(w http.ResponseWriter, r *http.Request, background bool) error

// Deliver runs on every response about to be sent to the client, hit or
// miss, before its header is written (the onClientResponse hook).
type Deliver func(status int, h http.Header)

type flight struct {
	done   chan struct{}
	stored bool
	once   sync.Once
}

func (f *flight) finish(stored bool) {
	f.once.Do(func() {
		f.stored = stored
		close(f.done)
	})
}

// Serve answers req from the cache or the origin and returns the cache
// status for the access log.
func (c *Cache) Serve(w http.ResponseWriter, req *Request, rt *Route, origin Origin, deliver Deliver) (string, error) {
	status, err := c.serve(w, req, rt, origin, deliver)
	if c.result != nil {
		c.result(status)
	}
	return status, err
}

func (c *Cache) serve(w http.ResponseWriter, req *Request, rt *Route, origin Origin, deliver Deliver) (string, error) {
	r := req.R
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		pw := &passWriter{ResponseWriter: w, deliver: deliver, detail: "fwd=method"}
		err := origin(pw, r, false)
		if !safeMethod(r.Method) && pw.status >= 200 && pw.status < 400 {
			c.invalidateAfter(req, rt, pw.Header())
		}
		return StatusBypass, err
	}
	if r.Header.Get("Upgrade") != "" {
		return StatusBypass, origin(&passWriter{ResponseWriter: w, deliver: deliver, detail: "fwd=bypass"}, r, false)
	}
	reqDirs := ParseCacheControl(r.Header.Values("Cache-Control"))
	if len(r.Header.Values("Cache-Control")) == 0 && pragmaNoCache(r.Header) {
		reqDirs.NoCache = true
	}
	if reqDirs.NoStore {
		return StatusBypass, origin(&passWriter{ResponseWriter: w, deliver: deliver, detail: "fwd=request"}, r, false)
	}
	credentialed := r.Header.Get("Authorization") != "" || req.Authenticated
	authorized := credentialed && !(rt.Key.PerIdentity && req.Subject != "")
	key, _ := rt.Key.Key(&KeyInput{Scheme: req.Scheme, Host: req.Host, Path: req.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header, Vars: req.Vars, Issuer: req.Issuer, Subject: req.Subject})

	now := c.now()
	o := c.lookup(key, r.Header, authorized)
	if o != nil {
		if c.freshFor(o, reqDirs, now) {
			return StatusHit, c.serveStored(w, r, o, now, deliver, StatusHit, "hit")
		}
		if c.staleAllowed(o, reqDirs, now) {
			return StatusStale, c.serveStored(w, r, o, now, deliver, StatusStale, "hit; fwd=stale")
		}
		if c.swrAllowed(o, reqDirs, now) {
			c.revalidateInBackground(req, rt, key, o, authorized, origin)
			return StatusStale, c.serveStored(w, r, o, now, deliver, StatusStale, "hit; fwd=stale; detail=stale-while-revalidate")
		}
	}
	if reqDirs.OnlyIfCached {
		h := w.Header()
		h.Set("Cache-Status", CacheStatusName+"; fwd=miss; detail=only-if-cached")
		h.Set("Cache-Control", "no-store")
		deliver(http.StatusGatewayTimeout, h)
		w.WriteHeader(http.StatusGatewayTimeout)
		return StatusMiss, nil
	}
	if r.Header.Get("Range") != "" {
		// Partial content is not stored; a fresh full object would have
		// answered above (ignoring Range is allowed).
		return StatusBypass, origin(&passWriter{ResponseWriter: w, deliver: deliver, detail: "fwd=bypass; detail=range"}, r, false)
	}

	// Collapse concurrent misses for this key into one origin request.
	f, leader := c.join(key)
	if !leader {
		if c.onWait != nil {
			c.onWait()
		}
		timer := time.NewTimer(c.collapse)
		select {
		case <-f.done:
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return StatusMiss, r.Context().Err()
		}
		timer.Stop()
		if f.stored {
			now = c.now()
			if o2 := c.lookup(key, r.Header, authorized); o2 != nil && c.freshFor(o2, reqDirs, now) {
				return StatusHit, c.serveStored(w, r, o2, now, deliver, StatusHit, "hit; collapsed")
			}
			o = c.lookup(key, r.Header, authorized)
		}
		f = nil
	}
	status, err := c.fetch(w, req, rt, key, o, authorized, reqDirs, origin, deliver, f)
	if f != nil {
		c.leave(key, f)
	}
	return status, err
}

func (c *Cache) join(key string) (*flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[key]; ok {
		return f, false
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	return f, true
}

func (c *Cache) leave(key string, f *flight) {
	f.finish(false)
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	c.mu.Unlock()
}

// lookup returns the stored variant req selects, if this request may use it.
func (c *Cache) lookup(key string, h http.Header, authorized bool) *Object {
	e := c.store.get(key)
	o := e.selectFor(h)
	if o == nil {
		return nil
	}
	if authorized && !o.Shared {
		// RFC 9111 §3.5: not for a credentialed request unless the
		// response said shared caches may reuse it.
		return nil
	}
	return o
}

func (c *Cache) freshFor(o *Object, d Directives, now time.Time) bool {
	if !o.Fresh(now) || d.NoCache {
		return false
	}
	age := o.Age(now)
	if d.MaxAge >= 0 && age > time.Duration(d.MaxAge)*time.Second {
		return false
	}
	if d.MinFresh >= 0 && o.Lifetime-age < time.Duration(d.MinFresh)*time.Second {
		return false
	}
	return true
}

// staleAllowed: the client accepts staleness (max-stale) and the response
// does not forbid it.
func (c *Cache) staleAllowed(o *Object, d Directives, now time.Time) bool {
	if d.MaxStale < 0 || d.NoCache || o.MustRevalidate || o.NoCache || o.Invalid {
		return false
	}
	age := o.Age(now)
	if d.MaxAge >= 0 && age > time.Duration(d.MaxAge)*time.Second {
		return false
	}
	// A bare max-stale (MaxStaleAny) would overflow as a Duration.
	return d.MaxStale >= MaxStaleAny || age-o.Lifetime <= time.Duration(d.MaxStale)*time.Second
}

func (c *Cache) swrAllowed(o *Object, d Directives, now time.Time) bool {
	if o.StaleWhileRevalidate <= 0 || d.NoCache || d.MaxAge >= 0 || o.MustRevalidate || o.NoCache || o.Invalid {
		return false
	}
	return o.Age(now)-o.Lifetime < o.StaleWhileRevalidate
}

// serveStored writes a stored object (answering the client's own
// conditional request when it matches).
func (c *Cache) serveStored(w http.ResponseWriter, r *http.Request, o *Object, now time.Time, deliver Deliver, _ string, detail string) error {
	h := w.Header()
	for k, vv := range o.Header {
		h[k] = vv
	}
	status := o.Status
	age := int64(o.Age(now) / time.Second)
	h["Age"] = []string{strconv.FormatInt(age, 10)}
	cs := CacheStatusName + "; " + detail
	if strings.HasPrefix(detail, "hit") {
		ttl := int64((o.Lifetime - o.Age(now)) / time.Second)
		cs += "; ttl=" + strconv.FormatInt(ttl, 10)
	}
	appendCacheStatus(h, cs)
	if status == http.StatusOK && notModified(r.Header, o) {
		status = http.StatusNotModified
		for _, k := range []string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Range"} {
			delete(h, k)
		}
	} else if status != http.StatusNoContent && status != http.StatusNotModified {
		h["Content-Length"] = []string{strconv.Itoa(len(o.Body))}
	}
	deliver(status, h)
	w.WriteHeader(status)
	if r.Method == http.MethodHead || status == http.StatusNotModified || status == http.StatusNoContent {
		return nil
	}
	_, err := w.Write(o.Body)
	return err
}

// appendCacheStatus adds this cache's member to the end of Cache-Status
// (the member closest to the client comes last, RFC 9211 §2).
func appendCacheStatus(h http.Header, member string) {
	if prev := h.Values("Cache-Status"); len(prev) > 0 {
		h["Cache-Status"] = []string{strings.Join(prev, ", ") + ", " + member}
		return
	}
	h["Cache-Status"] = []string{member}
}

// notModified evaluates the client's If-None-Match / If-Modified-Since
// against a stored 200 (RFC 9110 §13.2.2).
func notModified(h http.Header, o *Object) bool {
	if inm := h.Values("If-None-Match"); len(inm) > 0 {
		etag := o.ETag()
		if etag == "" {
			return false
		}
		for _, line := range inm {
			for _, t := range strings.Split(line, ",") {
				t = strings.TrimSpace(t)
				if t == "*" || weakEqual(t, etag) {
					return true
				}
			}
		}
		return false
	}
	if ims := h.Get("If-Modified-Since"); ims != "" {
		since, err := http.ParseTime(ims)
		lm, err2 := http.ParseTime(o.LastModified())
		if err == nil && err2 == nil {
			return !lm.After(since)
		}
	}
	return false
}

func weakEqual(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

func pragmaNoCache(h http.Header) bool {
	for _, v := range h.Values("Pragma") {
		if strings.Contains(strings.ToLower(v), "no-cache") {
			return true
		}
	}
	return false
}

func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// invalidateAfter removes what is stored for the target URI and for
// same-origin Location / Content-Location after an unsafe method succeeded.
func (c *Cache) invalidateAfter(req *Request, rt *Route, h http.Header) {
	base := URLOf(req.Scheme, req.Host, req.Path, "")
	urls := []string{URLOf(req.Scheme, req.Host, req.Path, req.R.URL.RawQuery)}
	for _, name := range []string{"Location", "Content-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		b, _ := url.Parse(base)
		u := b.ResolveReference(ref)
		if !strings.EqualFold(u.Hostname(), req.Host) || u.Scheme != req.Scheme {
			continue // another origin: never invalidated from here
		}
		p := u.Path
		if p == "" {
			p = "/"
		}
		urls = append(urls, URLOf(u.Scheme, strings.ToLower(u.Hostname()), p, u.RawQuery))
	}
	c.store.invalidateURLs(urls...)
}
