package cache

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// noUpdate are fields a 304 must not change in the stored response
// (RFC 9111 §3.2 and the representation metadata it describes).
var noUpdate = map[string]bool{
	"Content-Encoding": true, "Content-Length": true, "Content-Md5": true,
	"Content-Range": true, "Etag": true, "Transfer-Encoding": true,
}

// neverStored are fields that describe a connection, not the response.
var neverStored = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authentication-Info",
	"Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// fetch goes to the origin for a miss, or to validate the stale object o,
// storing what may be stored. f is this request's flight when it leads one.
func (c *Cache) fetch(w http.ResponseWriter, req *Request, rt *Route, key string, o *Object, authorized bool,
	reqDirs Directives, origin Origin, deliver Deliver, f *flight) (string, error) {
	r := req.R
	orig := r.Header.Clone()
	validating := o != nil && (o.ETag() != "" || o.LastModified() != "")
	if validating {
		r.Header.Del("If-None-Match")
		r.Header.Del("If-Modified-Since")
		if et := o.ETag(); et != "" {
			r.Header.Set("If-None-Match", et)
		}
		if lm := o.LastModified(); lm != "" {
			r.Header.Set("If-Modified-Since", lm)
		}
	}
	tw := &teeWriter{c: c, w: w, req: req, rt: rt, key: key, old: o, validating: validating, authorized: authorized,
		reqDirs: reqDirs, orig: orig, deliver: deliver, flight: f, requestTime: c.now(), header: http.Header{}}
	err := origin(tw, r, false)
	if tw.passOn {
		return tw.status, err
	}
	if !tw.wroteHeader {
		// No response from the origin: stale-if-error may answer.
		if err != nil && o != nil && c.staleIfError(o, reqDirs, c.now()) {
			return StatusStale, c.serveStored(w, req.R, o, c.now(), deliver, StatusStale, "hit; fwd=stale; detail=stale-if-error")
		}
		return StatusMiss, err
	}
	if tw.served {
		return tw.status, nil
	}
	if err == nil && tw.obj != nil {
		if cl := tw.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(tw.buf)) {
			tw.obj = nil
		}
	}
	if err == nil && tw.obj != nil {
		tw.obj.Body = tw.buf
		prev := c.store.get(key)
		c.store.put(prev.with(key, tw.obj))
		if f != nil {
			f.finish(true)
		}
	}
	return tw.status, err
}

func (c *Cache) staleIfError(o *Object, d Directives, now time.Time) bool {
	if o.MustRevalidate || o.NoCache {
		return false
	}
	window := o.StaleIfError
	if d.StaleIfError > 0 {
		window = max(window, time.Duration(d.StaleIfError)*time.Second)
	}
	return window > 0 && o.Age(now)-o.Lifetime < window
}

// revalidateInBackground validates o while the stale copy is served
// (stale-while-revalidate); one at a time per key. The validation is the
// client's own request, credentials included, so its answer is judged as
// that request's would be: authorized keeps a response to a credentialed
// request from being stored for everyone unless it says it is shared
// (RFC 9111 §3.5).
func (c *Cache) revalidateInBackground(req *Request, rt *Route, key string, o *Object, authorized bool, origin Origin) {
	f, leader := c.join(key)
	if !leader {
		return
	}
	r := req.R.Clone(context.WithoutCancel(req.R.Context()))
	r.Body = http.NoBody
	r.ContentLength = 0
	bg := *req
	bg.R = r
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer c.leave(key, f)
		bgOrigin := func(w http.ResponseWriter, r *http.Request, _ bool) error { return origin(w, r, true) }
		_, _ = c.fetch(discard{h: http.Header{}}, &bg, rt, key, o, authorized, noDirectives, bgOrigin, func(int, http.Header) {}, f)
	}()
}

// teeWriter receives the origin's response: it decides at the header
// whether to store, streams to the client while keeping a copy, and gives
// up the copy past the object size limit.
type teeWriter struct {
	c           *Cache
	w           http.ResponseWriter
	req         *Request
	rt          *Route
	key         string
	old         *Object
	validating  bool
	authorized  bool
	reqDirs     Directives
	orig        http.Header
	deliver     Deliver
	flight      *flight
	requestTime time.Time

	header      http.Header
	wroteHeader bool
	status      string
	// served: the client was answered from the store (a 304 or a
	// stale-if-error); origin body bytes are dropped.
	served bool
	// passOn: not ours (an interim or upgrade); status carries through.
	passOn bool
	obj    *Object
	buf    []byte
}

func (t *teeWriter) Header() http.Header { return t.header }

func (t *teeWriter) Unwrap() http.ResponseWriter { return t.w }

func (t *teeWriter) WriteHeader(code int) {
	if t.wroteHeader {
		return
	}
	if code < 200 {
		// Interim responses pass straight through.
		dst := t.w.Header()
		for k, vv := range t.header {
			dst[k] = vv
		}
		t.w.WriteHeader(code)
		if code == http.StatusSwitchingProtocols {
			t.passOn, t.wroteHeader, t.status = true, true, StatusBypass
		}
		return
	}
	t.wroteHeader = true
	c, r := t.c, t.req.R
	now := c.now()
	if t.validating && code == http.StatusNotModified {
		t.served = true
		t.status = StatusRevalidated
		merged := t.old.Header.Clone()
		for k, vv := range t.header {
			if !noUpdate[k] {
				merged[k] = vv
			}
		}
		for _, k := range neverStored {
			delete(merged, k)
		}
		d := t.rt.Rules.decide(t.old.Status, merged, t.reqDirs, t.authorized, t.requestTime, now)
		if d.Store {
			n := d.Object
			n.Body, n.URL = t.old.Body, t.old.URL
			n.VaryNames, n.VaryValues = t.old.VaryNames, t.old.VaryValues
			prev := c.store.get(t.key)
			c.store.put(prev.with(t.key, n))
			if t.flight != nil {
				t.flight.finish(true)
			}
			_ = c.serveStoredWith(t.w, r, t.orig, n, now, t.deliver, "hit; fwd=stale; detail=revalidated")
			return
		}
		c.store.delete(t.key)
		tmp := *t.old
		tmp.Header = merged
		_ = c.serveStoredWith(t.w, r, t.orig, &tmp, now, t.deliver, "fwd=stale; detail="+d.Reason)
		return
	}
	if t.old != nil && code >= 500 && c.staleIfError(t.old, t.reqDirs, now) {
		t.served = true
		t.status = StatusStale
		_ = c.serveStoredWith(t.w, r, t.orig, t.old, now, t.deliver, "hit; fwd=stale; detail=stale-if-error")
		return
	}
	fwd := "fwd=miss"
	if t.old != nil {
		fwd = "fwd=stale"
	}
	member := CacheStatusName + "; " + fwd + "; fwd-status=" + strconv.Itoa(code)
	t.status = StatusUncacheable
	if r.Method == http.MethodGet {
		d := t.rt.Rules.decide(code, t.header, t.reqDirs, t.authorized, t.requestTime, now)
		if d.Store {
			o := d.Object
			for _, k := range neverStored {
				delete(o.Header, k)
			}
			o.URL = URLOf(t.req.Scheme, t.req.Host, t.req.Path, r.URL.RawQuery)
			o.VaryValues = make([]string, len(o.VaryNames))
			for i, n := range o.VaryNames {
				d := varyDigest(t.orig, n)
				o.VaryValues[i] = string(d[:])
			}
			t.obj = o
			t.status = StatusMiss
			member += "; stored"
			if cl, err := strconv.ParseInt(t.header.Get("Content-Length"), 10, 64); err == nil && cl > t.rt.MaxObjectBytes {
				t.giveUp()
			} else if err == nil && cl > 0 {
				t.buf = make([]byte, 0, cl)
			}
		} else {
			member += "; detail=" + d.Reason
			if t.old != nil {
				// The new response replaces what was stored.
				c.store.delete(t.key)
			}
		}
	} else {
		t.status = StatusMiss
	}
	if t.obj == nil && t.flight != nil {
		// Waiters must not wait for an answer they cannot share.
		t.flight.finish(false)
	}
	dst := t.w.Header()
	for k, vv := range t.header {
		dst[k] = vv
	}
	if t.rt.Rules.HonorSurrogateControl {
		delete(dst, "Surrogate-Control")
	}
	if _, ok := dst["Age"]; !ok {
		dst["Age"] = []string{"0"}
	}
	appendCacheStatus(dst, member)
	t.deliver(code, dst)
	t.w.WriteHeader(code)
}

func (t *teeWriter) giveUp() {
	t.obj, t.buf = nil, nil
	if t.flight != nil {
		t.flight.finish(false)
	}
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if !t.wroteHeader {
		t.WriteHeader(http.StatusOK)
	}
	if t.served {
		return len(b), nil
	}
	if t.obj != nil {
		if int64(len(t.buf)+len(b)) > t.rt.MaxObjectBytes {
			t.giveUp()
		} else {
			t.buf = append(t.buf, b...)
		}
	}
	return t.w.Write(b)
}

func (t *teeWriter) Flush() {
	if !t.wroteHeader {
		t.WriteHeader(http.StatusOK)
	}
	if t.served {
		return
	}
	if f, ok := t.w.(http.Flusher); ok {
		f.Flush()
	}
}

// serveStoredWith serves o judging the client's conditionals from h (the
// request header as the client sent it).
func (c *Cache) serveStoredWith(w http.ResponseWriter, r *http.Request, h http.Header, o *Object, now time.Time, deliver Deliver, detail string) error {
	saved := r.Header
	r.Header = h
	defer func() { r.Header = saved }()
	return c.serveStored(w, r, o, now, deliver, "", detail)
}

// passWriter forwards a response the cache does not take part in, adding
// Cache-Status and running the client-response hook.
type passWriter struct {
	http.ResponseWriter
	deliver Deliver
	detail  string
	status  int
}

func (p *passWriter) WriteHeader(code int) {
	if p.status == 0 && code >= 200 {
		p.status = code
		h := p.ResponseWriter.Header()
		appendCacheStatus(h, CacheStatusName+"; "+p.detail)
		p.deliver(code, h)
	}
	p.ResponseWriter.WriteHeader(code)
}

func (p *passWriter) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

func (p *passWriter) Flush() {
	if p.status == 0 {
		p.WriteHeader(http.StatusOK)
	}
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (p *passWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// discard is the writer of a background revalidation.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
