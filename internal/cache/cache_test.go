package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want func(d *Directives)
	}{
		{"max-age=60", func(d *Directives) { d.MaxAge = 60 }},
		{`max-age="60"`, func(d *Directives) { d.MaxAge = 60 }},
		{"MAX-AGE=60, S-MAXAGE=10", func(d *Directives) { d.MaxAge, d.SMaxAge = 60, 10 }},
		{"max-age=abc", func(d *Directives) { d.Invalid = true }},
		{"max-age=-1", func(d *Directives) { d.Invalid = true }},
		{"max-age=1, max-age=2", func(d *Directives) { d.MaxAge, d.Invalid = 1, true }},
		{"max-age=99999999999", func(d *Directives) { d.MaxAge = 1 << 31 }},
		{"no-store, private, public", func(d *Directives) { d.NoStore, d.Private, d.Public = true, true, true }},
		{`no-cache="Set-Cookie, X-A", private="x-b"`, func(d *Directives) {
			d.NoCacheFields, d.PrivateFields = []string{"Set-Cookie", "X-A"}, []string{"X-B"}
		}},
		{"no-cache", func(d *Directives) { d.NoCache = true }},
		{"max-stale", func(d *Directives) { d.MaxStale = MaxStaleAny }},
		{"max-stale=5, min-fresh=3, only-if-cached", func(d *Directives) { d.MaxStale, d.MinFresh, d.OnlyIfCached = 5, 3, true }},
		{"stale-while-revalidate=30, stale-if-error=60", func(d *Directives) { d.StaleWhileRevalidate, d.StaleIfError = 30, 60 }},
		{"must-revalidate, proxy-revalidate, must-understand, immutable", func(d *Directives) {
			d.MustRevalidate, d.ProxyRevalidate, d.MustUnderstand, d.Immutable = true, true, true, true
		}},
		{",,, ,foo=\"a,b\", bar", func(d *Directives) {}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			want := noDirectives
			tc.want(&want)
			if diff := cmp.Diff(want, ParseCacheControl([]string{tc.in})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if d := ParseSurrogateControl([]string{"max-age=30;edge, no-store;other"}); d.MaxAge != 30 || !d.NoStore {
		t.Errorf("surrogate targets: %+v", d)
	}
}

func TestParseAgeVaryDate(t *testing.T) {
	for _, tc := range []struct {
		lines         []string
		age           int64
		present, okay bool
	}{
		{nil, 0, false, false}, {[]string{"10"}, 10, true, true}, {[]string{" 10 "}, 10, true, true},
		{[]string{"-1"}, 0, true, false}, {[]string{"1.5"}, 0, true, false}, {[]string{"0, 0"}, 0, true, false},
		{[]string{"1", "2"}, 0, true, false}, {[]string{"7;x=1"}, 0, true, false},
		// Deliberately not the first member (docs/cache.md, Conformance):
		// any list is an unknown age, so the response is validated.
		{[]string{"0,7200"}, 0, true, false}, {[]string{"7200,0"}, 0, true, false},
	} {
		a, p, ok := ParseAge(tc.lines)
		if a != tc.age || p != tc.present || ok != tc.okay {
			t.Errorf("ParseAge(%q) = %d %v %v", tc.lines, a, p, ok)
		}
	}
	names, star := ParseVary([]string{"Accept-Encoding, accept-language", " Foo"})
	if diff := cmp.Diff([]string{"accept-encoding", "accept-language", "foo"}, names); diff != "" || star {
		t.Errorf("vary: %s %v", diff, star)
	}
	for _, v := range []string{"*", "Foo, *", "a b"} {
		if _, star := ParseVary([]string{v}); !star {
			t.Errorf("Vary %q should never match", v)
		}
	}
	if _, ok := ParseHTTPDate([]string{"0"}); ok {
		t.Error("Expires: 0 parsed as a date")
	}
	if _, ok := ParseHTTPDate([]string{"Sun, 06 Nov 1994 08:49:37 GMT"}); !ok {
		t.Error("IMF-fixdate rejected")
	}
}

func TestDecide(t *testing.T) {
	now := time.Now()
	date := now.UTC().Format(http.TimeFormat)
	lm := now.Add(-100 * time.Hour).UTC().Format(http.TimeFormat)
	rules := Rules{Heuristic: true, HonorCDNCacheControl: true, HonorSurrogateControl: true}
	for _, tc := range []struct {
		name       string
		status     int
		h          []string
		authorized bool
		rules      *Rules
		store      bool
		life       time.Duration
	}{
		{"max-age", 200, []string{"Cache-Control", "max-age=60"}, false, nil, true, 60 * time.Second},
		{"s-maxage wins", 200, []string{"Cache-Control", "max-age=60, s-maxage=5"}, false, nil, true, 5 * time.Second},
		{"expires", 200, []string{"Date", date, "Expires", now.Add(time.Hour).UTC().Format(http.TimeFormat)}, false, nil, true, time.Hour},
		{"far-future expires saturates", 200, []string{"Date", date, "Expires", "Fri, 31 Dec 9999 23:59:59 GMT"}, false, nil, true, (1 << 31) * time.Second},
		{"invalid expires", 200, []string{"Expires", "0", "Etag", `"x"`}, false, nil, true, 0},
		{"heuristic", 200, []string{"Date", date, "Last-Modified", lm}, false, nil, true, 10 * time.Hour},
		{"heuristic off", 200, []string{"Date", date, "Last-Modified", lm}, false, &Rules{}, true, 0},
		{"heuristic not for 202", 202, []string{"Date", date, "Last-Modified", lm}, false, nil, false, 0},
		{"nothing", 200, nil, false, nil, false, 0},
		{"no-store", 200, []string{"Cache-Control", "no-store, max-age=60"}, false, nil, false, 0},
		{"private", 200, []string{"Cache-Control", "private, max-age=60"}, false, nil, false, 0},
		{"authorization", 200, []string{"Cache-Control", "max-age=60"}, true, nil, false, 0},
		{"authorization public", 200, []string{"Cache-Control", "public, max-age=60"}, true, nil, true, 60 * time.Second},
		{"authorization s-maxage", 200, []string{"Cache-Control", "s-maxage=60"}, true, nil, true, 60 * time.Second},
		{"authorization must-revalidate", 200, []string{"Cache-Control", "must-revalidate, max-age=60"}, true, nil, true, 60 * time.Second},
		{"set-cookie", 200, []string{"Cache-Control", "max-age=60", "Set-Cookie", "a=b"}, false, nil, false, 0},
		{"set-cookie not stored", 200, []string{"Cache-Control", `max-age=60, no-cache="Set-Cookie"`, "Set-Cookie", "a=b"}, false, nil, true, 60 * time.Second},
		{"vary star", 200, []string{"Cache-Control", "max-age=60", "Vary", "*"}, false, nil, false, 0},
		{"206", 206, []string{"Cache-Control", "max-age=60"}, false, nil, false, 0},
		{"must-understand unknown", 599, []string{"Cache-Control", "max-age=60, must-understand"}, false, nil, false, 0},
		{"unknown status with max-age", 599, []string{"Cache-Control", "max-age=60"}, false, nil, true, 60 * time.Second},
		{"cdn-cache-control over no-store", 200, []string{"Cache-Control", "no-store", "Cdn-Cache-Control", "max-age=30"}, false, nil, true, 30 * time.Second},
		{"cdn-cache-control not honoured", 200, []string{"Cache-Control", "no-store", "Cdn-Cache-Control", "max-age=30"}, false, &Rules{}, false, 0},
		{"surrogate", 200, []string{"Surrogate-Control", "max-age=20"}, false, nil, true, 20 * time.Second},
		{"ttl override", 200, []string{"Etag", `"x"`}, false, &Rules{TTLOverride: time.Minute}, true, time.Minute},
		{"ttl override keeps private", 200, []string{"Cache-Control", "private"}, false, &Rules{TTLOverride: time.Minute}, false, 0},
		{"bad age is stale", 200, []string{"Cache-Control", "max-age=60", "Age", "x", "Etag", `"e"`}, false, nil, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i+1 < len(tc.h); i += 2 {
				h.Add(tc.h[i], tc.h[i+1])
			}
			r := rules
			if tc.rules != nil {
				r = *tc.rules
			}
			d := r.decide(tc.status, h, noDirectives, tc.authorized, now, now)
			if d.Store != tc.store {
				t.Fatalf("store = %v (%s), want %v", d.Store, d.Reason, tc.store)
			}
			if d.Store && d.Object.Lifetime != tc.life {
				t.Errorf("lifetime %v, want %v", d.Object.Lifetime, tc.life)
			}
			if d.Store {
				if _, ok := d.Object.Header["Set-Cookie"]; ok {
					t.Error("Set-Cookie stored")
				}
			}
		})
	}
}

func TestInitialAge(t *testing.T) {
	now := time.Now()
	h := http.Header{"Age": {"100"}, "Date": {now.Add(-10 * time.Second).UTC().Format(http.TimeFormat)}}
	got := initialAge(h, now.Add(-2*time.Second), now)
	if got != 102*time.Second {
		t.Errorf("initial age %v, want 102s (Age plus response delay beats the apparent age)", got)
	}
	o := &Object{InitialAge: got, ResponseTime: now, Lifetime: 200 * time.Second}
	if !o.Fresh(now.Add(97*time.Second)) || o.Fresh(now.Add(99*time.Second)) {
		t.Error("freshness boundary wrong")
	}
}

func TestKey(t *testing.T) {
	h := http.Header{"Accept-Language": {"de"}, "Cookie": {"a=1; locale=fr; b=2"}}
	in := &KeyInput{Scheme: "https", Host: "ex.com", Path: "/p", RawQuery: "b=2&a=1;x=9&utm=3", Header: h,
		Vars: func(n string) string { return "v-" + n }, Issuer: "iss", Subject: "alice"}
	for _, tc := range []struct {
		name string
		spec KeySpec
		want string
	}{
		{"default", KeySpec{}, "https://ex.com/p?b=2&a=1;x=9&utm=3"},
		{"no query", KeySpec{QueryNone: true}, "https://ex.com/p"},
		{"args; is not a separator", KeySpec{QueryArgs: []string{"a", "x"}}, "https://ex.com/p?a=1;x=9"},
		{"args", KeySpec{QueryArgs: []string{"b"}}, "https://ex.com/p?b=2"},
		{"extras", KeySpec{QueryNone: true, Headers: []string{"Accept-Language"}, Cookies: []string{"locale"}, Variables: []string{"PMUSER_C"}, PerIdentity: true},
			"https://ex.com/p\x00h:Accept-Language=de\x00c:locale=fr\x00v:PMUSER_C=v-PMUSER_C\x00id:iss\x00alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, url := tc.spec.Key(in)
			if key != tc.want || !strings.HasPrefix(key, url) || strings.Contains(url, "\x00") {
				t.Errorf("key %q url %q, want %q", key, url, tc.want)
			}
		})
	}
}

// testServe drives Cache.Serve against a real origin server, on a clock
// the test moves forward (skew) instead of sleeping.
type testServe struct {
	c      *Cache
	origin *httptest.Server
	hits   atomic.Int32
	skew   atomic.Int64
}

func newTestServe(t *testing.T, h http.HandlerFunc) *testServe {
	return newTestServeOpts(t, Options{CollapseTimeout: time.Second}, h)
}

func newTestServeOpts(t *testing.T, o Options, h http.HandlerFunc) *testServe {
	st, err := NewStore(StoreOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	o.Store = st
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServe{c: c}
	c.now = func() time.Time { return time.Now().Add(time.Duration(ts.skew.Load())) }
	ts.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.hits.Add(1)
		// The origin's clock is the cache's, so a moved clock does not
		// show as an apparent age.
		w.Header().Set("Date", c.now().UTC().Format(http.TimeFormat))
		h(w, r)
	}))
	t.Cleanup(func() { ts.origin.Close(); c.Wait(); st.Close() })
	return ts
}

// advance moves the cache's clock forward by d.
func (ts *testServe) advance(d time.Duration) { ts.skew.Add(int64(d)) }

func (ts *testServe) get(t *testing.T, rt *Route, r *http.Request, subject string) *httptest.ResponseRecorder {
	t.Helper()
	rec, err := ts.serve(rt, r, subject)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// serve is get without failing on an origin error (stale-if-error tests).
func (ts *testServe) serve(rt *Route, r *http.Request, subject string) (*httptest.ResponseRecorder, error) {
	rec := httptest.NewRecorder()
	origin := func(w http.ResponseWriter, r *http.Request, _ bool) error {
		out, _ := http.NewRequest(r.Method, ts.origin.URL+r.URL.RequestURI(), nil)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		for k, vv := range resp.Header {
			w.Header()[k] = vv
		}
		w.WriteHeader(resp.StatusCode)
		_, err = io.Copy(w, resp.Body)
		return err
	}
	req := &Request{R: r, Scheme: "http", Host: "ex.com", Path: r.URL.Path, Authenticated: subject != "", Issuer: "iss", Subject: subject}
	_, err := ts.c.Serve(rec, req, rt, origin, func(int, http.Header) {})
	return rec, err
}

func TestServePerIdentityAndRequestDirectives(t *testing.T) {
	ts := newTestServe(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"e1"`)
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "for "+r.Header.Get("X-User"))
	})
	per := &Route{Key: KeySpec{PerIdentity: true}, MaxObjectBytes: 1 << 20}
	req := func(user string, h ...string) *http.Request {
		r := httptest.NewRequest("GET", "http://ex.com/me", nil)
		r.Header.Set("X-User", user)
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	ts.get(t, per, req("alice"), "alice")
	if b := ts.get(t, per, req("alice"), "alice").Body.String(); b != "for alice" || ts.hits.Load() != 1 {
		t.Fatalf("alice's second request not a hit: %q, origin %d", b, ts.hits.Load())
	}
	if b := ts.get(t, per, req("bob"), "bob").Body.String(); b != "for bob" {
		t.Fatalf("bob got %q", b)
	}
	if b := ts.get(t, per, req(""), "").Body.String(); b != "for " {
		t.Fatalf("anonymous got %q", b)
	}
	n := ts.hits.Load()
	if rec := ts.get(t, per, req("alice", "Cache-Control", "no-cache"), "alice"); ts.hits.Load() != n+1 || !strings.Contains(rec.Header().Get("Cache-Status"), "revalidated") {
		t.Errorf("no-cache did not validate: %q", rec.Header().Get("Cache-Status"))
	}
	if rec := ts.get(t, per, req("carol", "Cache-Control", "only-if-cached"), "carol"); rec.Code != http.StatusGatewayTimeout {
		t.Errorf("only-if-cached miss: %d", rec.Code)
	}
	if rec := ts.get(t, per, req("alice", "If-None-Match", `"e1"`), "alice"); rec.Code != http.StatusNotModified {
		t.Errorf("client conditional on a hit: %d", rec.Code)
	}
}

func TestStorePurge(t *testing.T) {
	st, err := NewStore(StoreOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(url string, tags ...string) {
		st.put((*entry)(nil).with(url, &Object{Status: 200, Header: http.Header{}, URL: url, Tags: tags}))
	}
	put("https://ex.com/a", "t1")
	put("https://ex.com/dir/b")
	put("https://ex.com/dir/c", "t1")
	put("https://ex.com/dirt")
	for _, tc := range []struct {
		req  PurgeRequest
		want int
		err  bool
	}{
		{PurgeRequest{URLs: []string{"https://EX.com:443/a"}}, 1, false},
		{PurgeRequest{Prefixes: []string{"https://ex.com/dir/"}, Mode: PurgeDelete}, 2, false},
		{PurgeRequest{Tags: []string{"t1"}}, 1, false}, // /dir/c is gone
		{PurgeRequest{URLs: []string{"ex.com/a"}}, 0, true},
		{PurgeRequest{Mode: "x", URLs: []string{"https://ex.com/a"}}, 0, true},
		{PurgeRequest{}, 0, true},
	} {
		res, err := st.Purge(context.Background(), tc.req)
		if (err != nil) != tc.err || err != nil && !errors.Is(err, ErrBadPurge) || res.Keys != tc.want {
			t.Errorf("%+v: %d keys, err %v; want %d", tc.req, res.Keys, err, tc.want)
		}
	}
	if e := st.get("https://ex.com/a"); e == nil || !e.Objects[0].Invalid {
		t.Error("invalidate mode did not mark the object")
	}
	if st.get("https://ex.com/dir/b") != nil || st.get("https://ex.com/dirt") == nil {
		t.Error("prefix delete removed the wrong keys")
	}
}

func TestDiskTier(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store {
		st, err := NewStore(StoreOptions{MaxBytes: 1 << 20, DiskPath: dir, DiskMaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	o := &Object{Status: 200, Header: http.Header{"X": {"y"}}, Body: []byte("body"), URL: "https://ex.com/k", Tags: []string{"tag"}}
	st.put((*entry)(nil).with("https://ex.com/k", o))
	st.Close() // flushes the write queue
	st2 := open()
	defer st2.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !st2.disk.ready.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	e := st2.get("https://ex.com/k")
	if e == nil || string(e.Objects[0].Body) != "body" || e.Objects[0].Header.Get("X") != "y" {
		t.Fatalf("not restored from disk: %+v", e)
	}
	if res, _ := st2.Purge(context.Background(), PurgeRequest{Tags: []string{"tag"}, Mode: PurgeDelete}); res.Keys != 1 {
		t.Errorf("tag index not rebuilt from disk: %d", res.Keys)
	}
}

func TestDiskFullDegrades(t *testing.T) {
	var errs atomic.Int32
	st, err := NewStore(StoreOptions{MaxBytes: 1 << 20, DiskPath: t.TempDir(), DiskMaxBytes: 1 << 20, Hooks: Hooks{DiskError: func() { errs.Add(1) }}})
	if err != nil {
		t.Fatal(err)
	}
	st.disk.create = func(string) (io.WriteCloser, error) { return nil, syscall.ENOSPC }
	st.put((*entry)(nil).with("k", &Object{Status: 200, Header: http.Header{}}))
	st.Close()
	if errs.Load() == 0 {
		t.Error("disk error not reported")
	}
	if st.get("k") == nil {
		t.Error("memory tier lost the entry")
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `no-cache="a,b"`, "max-stale", `x="\"`, ",,=,", "max-age=1;t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseCacheControl([]string{s})
		if d.MaxAge < -1 || d.SMaxAge < -1 || d.MaxAge > 1<<31 {
			t.Fatalf("out of range: %+v", d)
		}
		_ = ParseSurrogateControl([]string{s})
	})
}

func FuzzParseVary(f *testing.F) {
	for _, s := range []string{"*", "a, b", " , ", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, _ := ParseVary([]string{s})
		for _, n := range names {
			if n == "" || n != strings.ToLower(n) {
				t.Fatalf("bad name %q", n)
			}
		}
	})
}

func FuzzParseAgeExpires(f *testing.F) {
	for _, s := range []string{"0", "-1", "1.0", "99999999999999999999", "Sun, 06 Nov 1994 08:49:37 GMT", "0, 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, _, ok := ParseAge([]string{s}); ok && (a < 0 || a > 1<<31) {
			t.Fatalf("age %d", a)
		}
		_, _ = ParseHTTPDate([]string{s})
	})
}

// BenchmarkKeyAndLookup is the per-request cache work of a hit: key
// computation, the memory-tier lookup and variant selection.
func BenchmarkKeyAndLookup(b *testing.B) {
	st, err := NewStore(StoreOptions{MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	spec := KeySpec{QueryArgs: []string{"id", "lang"}}
	h := http.Header{"Accept-Encoding": {"gzip"}}
	for i := range 1000 {
		in := &KeyInput{Scheme: "https", Host: "ex.com", Path: "/p/" + string(rune('a'+i%26)), RawQuery: "id=" + string(rune('0'+i%10)) + "&utm=x", Header: h}
		key, url := spec.Key(in)
		d := varyDigest(h, "accept-encoding")
		st.put((*entry)(nil).with(key, &Object{Status: 200, Header: http.Header{}, URL: url, VaryNames: []string{"accept-encoding"}, VaryValues: []string{string(d[:])}}))
	}
	in := &KeyInput{Scheme: "https", Host: "ex.com", Path: "/p/c", RawQuery: "id=2&utm=x", Header: h}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key, _ := spec.Key(in)
		if st.get(key).selectFor(h) == nil {
			b.Fatal("miss")
		}
	}
}

// TestServeDirectives covers the request directives and the stale
// extensions of RFC 9111 / RFC 5861 through Serve: a first request stores
// the origin's answer (body "v1"), the clock moves on, and a second
// request shows what the cache did with it.
func TestServeDirectives(t *testing.T) {
	type step struct {
		req        []string // request header pairs
		status     int
		body       string
		cacheState string // substring of Cache-Status
		hits       int32  // origin requests so far
	}
	for _, tc := range []struct {
		name string
		resp string // Cache-Control of every origin answer
		// fail makes origin answers after the first a 500 (or, with
		// "cut", a dropped connection).
		fail    string
		advance time.Duration
		then    []step
	}{
		{"request max-age younger than the stored age", "max-age=60", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "max-age=2"}, 200, "v2", "fwd=stale; fwd-status=200; stored", 2}}},
		{"request max-age older than the stored age", "max-age=60", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "max-age=10"}, 200, "v1", "hit", 1}}},
		{"request max-age=0", "max-age=60", "", 0,
			[]step{{[]string{"Cache-Control", "max-age=0"}, 200, "v2", "fwd=stale", 2}}},
		{"max-stale covers the staleness", "max-age=1", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "max-stale=10"}, 200, "v1", "hit; fwd=stale", 1}}},
		{"bare max-stale", "max-age=1", "", time.Hour,
			[]step{{[]string{"Cache-Control", "max-stale"}, 200, "v1", "hit; fwd=stale", 1}}},
		{"max-stale too short", "max-age=1", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "max-stale=2"}, 200, "v2", "fwd=stale", 2}}},
		{"max-stale against must-revalidate", "max-age=1, must-revalidate", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "max-stale"}, 200, "v2", "fwd=stale", 2}}},
		{"max-stale against proxy-revalidate", "max-age=1, proxy-revalidate", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "max-stale"}, 200, "v2", "fwd=stale", 2}}},
		{"min-fresh not met", "max-age=10", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "min-fresh=6"}, 200, "v2", "fwd=stale", 2}}},
		{"min-fresh met", "max-age=10", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "min-fresh=4"}, 200, "v1", "hit", 1}}},
		{"request no-store bypasses", "max-age=60", "", 0,
			[]step{
				{[]string{"Cache-Control", "no-store"}, 200, "v2", "fwd=request", 2},
				{nil, 200, "v1", "hit", 2}, // and did not replace the stored copy
			}},
		{"request no-cache validates", "max-age=60", "", 0,
			[]step{{[]string{"Cache-Control", "no-cache"}, 200, "v2", "fwd=stale", 2}}},
		{"Pragma no-cache validates", "max-age=60", "", 0,
			[]step{{[]string{"Pragma", "no-cache"}, 200, "v2", "fwd=stale", 2}}},
		{"only-if-cached on a fresh entry", "max-age=60", "", 0,
			[]step{{[]string{"Cache-Control", "only-if-cached"}, 200, "v1", "hit", 1}}},
		{"only-if-cached on a stale entry", "max-age=1", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "only-if-cached"}, 504, "", "detail=only-if-cached", 1}}},
		{"only-if-cached with max-stale", "max-age=1", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "only-if-cached, max-stale"}, 200, "v1", "fwd=stale", 1}}},
		{"stale-while-revalidate serves stale, then the new copy", "max-age=1, stale-while-revalidate=60", "", 5 * time.Second,
			[]step{
				{nil, 200, "v1", "detail=stale-while-revalidate", 0}, // origin count checked after Wait
				{nil, 200, "v2", "hit", 2},
			}},
		{"stale-while-revalidate window over", "max-age=1, stale-while-revalidate=2", "", 5 * time.Second,
			[]step{{nil, 200, "v2", "fwd=stale", 2}}},
		{"stale-while-revalidate not with request max-age", "max-age=1, stale-while-revalidate=60", "", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "max-age=2"}, 200, "v2", "fwd=stale", 2}}},
		{"stale-if-error on a 500", "max-age=1, stale-if-error=60", "500", 5 * time.Second,
			[]step{{nil, 200, "v1", "detail=stale-if-error", 2}}},
		{"stale-if-error on an unreachable origin", "max-age=1, stale-if-error=60", "cut", 5 * time.Second,
			[]step{{nil, 200, "v1", "detail=stale-if-error", 0}}}, // the client retries a cut connection
		{"stale-if-error window over", "max-age=1, stale-if-error=2", "500", 5 * time.Second,
			[]step{{nil, 500, "v2", "fwd=stale; fwd-status=500", 2}}},
		{"request stale-if-error", "max-age=1", "500", 5 * time.Second,
			[]step{{[]string{"Cache-Control", "stale-if-error=60"}, 200, "v1", "detail=stale-if-error", 2}}},
		{"proxy-revalidate forbids stale-if-error", "max-age=1, stale-if-error=60, proxy-revalidate", "500", 5 * time.Second,
			[]step{{nil, 500, "v2", "fwd-status=500", 2}}},
		{"must-revalidate forbids stale-if-error", "max-age=1, stale-if-error=60, must-revalidate", "500", 5 * time.Second,
			[]step{{nil, 500, "v2", "fwd-status=500", 2}}},
		{"proxy-revalidate forbids stale-while-revalidate", "max-age=1, stale-while-revalidate=60, proxy-revalidate", "", 5 * time.Second,
			[]step{{nil, 200, "v2", "fwd=stale", 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts *testServe
			ts = newTestServe(t, func(w http.ResponseWriter, r *http.Request) {
				n := ts.hits.Load()
				w.Header().Set("Cache-Control", tc.resp)
				if n > 1 {
					switch tc.fail {
					case "500":
						w.WriteHeader(http.StatusInternalServerError)
					case "cut":
						conn, _, err := w.(http.Hijacker).Hijack()
						if err == nil {
							conn.Close()
						}
						return
					}
				}
				fmt.Fprintf(w, "v%d", n)
			})
			rt := &Route{MaxObjectBytes: 1 << 20}
			if rec := ts.get(t, rt, httptest.NewRequest("GET", "http://ex.com/d", nil), ""); rec.Body.String() != "v1" {
				t.Fatalf("first request: %q", rec.Body.String())
			}
			ts.advance(tc.advance)
			for i, s := range tc.then {
				r := httptest.NewRequest("GET", "http://ex.com/d", nil)
				for j := 0; j+1 < len(s.req); j += 2 {
					r.Header.Set(s.req[j], s.req[j+1])
				}
				rec, err := ts.serve(rt, r, "")
				if err != nil && tc.fail != "cut" {
					t.Fatal(err)
				}
				cs := rec.Header().Get("Cache-Status")
				if rec.Code != s.status || rec.Body.String() != s.body || !strings.Contains(cs, s.cacheState) {
					t.Errorf("step %d: %d %q %q, want %d %q with %q", i, rec.Code, rec.Body.String(), cs, s.status, s.body, s.cacheState)
				}
				if rec.Header().Get("Age") == "" && rec.Code != http.StatusGatewayTimeout && !strings.Contains(cs, "fwd=request") {
					t.Errorf("step %d: no Age", i)
				}
				ts.c.Wait()
				if s.hits > 0 && ts.hits.Load() != s.hits {
					t.Errorf("step %d: origin saw %d requests, want %d", i, ts.hits.Load(), s.hits)
				}
			}
		})
	}
}

// TestSWRCredentialedRevalidation: the background validation of
// stale-while-revalidate is the signed-in caller's own request, so what
// it brings back is stored for others only if it says it may be shared.
func TestSWRCredentialedRevalidation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		second     string // Cache-Control of the personalised answer
		leakStored bool   // anonymous then gets the personalised answer
	}{
		{"not shareable", "max-age=60", false},
		{"private", "private, max-age=60", false},
		{"public", "public, max-age=60", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts *testServe
			ts = newTestServe(t, func(w http.ResponseWriter, r *http.Request) {
				if ts.hits.Load() == 1 {
					w.Header().Set("Cache-Control", "public, max-age=1, stale-while-revalidate=60")
					io.WriteString(w, "public page")
					return
				}
				w.Header().Set("Cache-Control", tc.second)
				io.WriteString(w, "page for "+r.Header.Get("Authorization"))
			})
			rt := &Route{MaxObjectBytes: 1 << 20}
			ts.get(t, rt, httptest.NewRequest("GET", "http://ex.com/p", nil), "")
			ts.advance(5 * time.Second)
			r := httptest.NewRequest("GET", "http://ex.com/p", nil)
			r.Header.Set("Authorization", "Bearer alice")
			rec := ts.get(t, rt, r, "")
			if rec.Body.String() != "public page" || !strings.Contains(rec.Header().Get("Cache-Status"), "stale-while-revalidate") {
				t.Fatalf("alice: %q %q", rec.Body.String(), rec.Header().Get("Cache-Status"))
			}
			ts.c.Wait()
			if ts.hits.Load() != 2 {
				t.Fatalf("no background validation: origin saw %d", ts.hits.Load())
			}
			rec = ts.get(t, rt, httptest.NewRequest("GET", "http://ex.com/p", nil), "")
			if leaked := strings.Contains(rec.Body.String(), "alice"); leaked != tc.leakStored {
				t.Errorf("anonymous got %q (%s); alice's answer shared = %v, want %v", rec.Body.String(), rec.Header().Get("Cache-Status"), leaked, tc.leakStored)
			}
		})
	}
}

// TestVaryValuesAreDigests: with Vary: Authorization, Cookie the stored
// object keeps digests of the selecting values, never the credentials,
// and selection still tells callers apart.
func TestVaryValuesAreDigests(t *testing.T) {
	var ts *testServe
	ts = newTestServe(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Vary", "Authorization, Cookie")
		fmt.Fprintf(w, "v%d", ts.hits.Load())
	})
	rt := &Route{MaxObjectBytes: 1 << 20}
	req := func(auth, cookie string) *http.Request {
		r := httptest.NewRequest("GET", "http://ex.com/v", nil)
		r.Header.Set("Authorization", auth)
		r.Header.Set("Cookie", cookie)
		return r
	}
	ts.get(t, rt, req("Bearer alice-secret", "edgegate_session=sess-secret"), "")
	e := ts.c.store.get("http://ex.com/v")
	if e == nil || len(e.Objects) != 1 {
		t.Fatal("not stored")
	}
	for _, v := range e.Objects[0].VaryValues {
		if strings.Contains(v, "secret") || len(v) != 32 {
			t.Errorf("stored vary value %q is not a digest", v)
		}
	}
	if b := ts.get(t, rt, req("Bearer alice-secret", "edgegate_session=sess-secret"), "").Body.String(); b != "v1" {
		t.Errorf("same credentials: %q, want the stored v1", b)
	}
	if b := ts.get(t, rt, req("Bearer bob", "edgegate_session=sess-secret"), "").Body.String(); b != "v2" {
		t.Errorf("other Authorization: %q, want a new v2", b)
	}
}

// TestCollapseTimeoutReleases: a waiter gives up on a slow leader after
// collapse_timeout and goes to the origin itself.
func TestCollapseTimeoutReleases(t *testing.T) {
	release := make(chan struct{})
	var collapsed atomic.Int32
	var ts *testServe
	ts = newTestServeOpts(t, Options{CollapseTimeout: 50 * time.Millisecond, Collapsed: func() { collapsed.Add(1) }},
		func(w http.ResponseWriter, r *http.Request) {
			n := ts.hits.Load()
			w.Header().Set("Cache-Control", "max-age=60")
			if n == 1 {
				<-release // the leader's origin answer hangs
			}
			fmt.Fprintf(w, "v%d", n)
		})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	rt := &Route{MaxObjectBytes: 1 << 20}
	leader := make(chan string, 1)
	go func() {
		rec, err := ts.serve(rt, httptest.NewRequest("GET", "http://ex.com/slow", nil), "")
		if err != nil {
			leader <- err.Error()
			return
		}
		leader <- rec.Body.String()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for ts.hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec, _ := ts.serve(rt, httptest.NewRequest("GET", "http://ex.com/slow", nil), "")
		done <- rec
	}()
	select {
	case rec := <-done:
		if rec.Body.String() != "v2" || collapsed.Load() != 1 {
			t.Errorf("waiter got %q (collapsed %d), want its own origin answer v2 after waiting once", rec.Body.String(), collapsed.Load())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiter was not released while the leader's fetch hangs")
	}
	close(release)
	if b := <-leader; b != "v1" {
		t.Errorf("leader: %q", b)
	}
}

// TestMemoryEvictionMetrics: a full memory tier evicts, reports each
// eviction and stays within its byte bound.
func TestMemoryEvictionMetrics(t *testing.T) {
	var evicted atomic.Int32
	var memBytes atomic.Int64
	const max = 64 << 10
	st, err := NewStore(StoreOptions{MaxBytes: max, Hooks: Hooks{
		Evicted: func(tier string) {
			if tier == "memory" {
				evicted.Add(1)
			}
		},
		Bytes: func(tier string, n int64) {
			if tier == "memory" {
				memBytes.Store(n)
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 200 {
		k := fmt.Sprintf("https://ex.com/%d", i)
		st.put((*entry)(nil).with(k, &Object{Status: 200, Header: http.Header{}, Body: make([]byte, 1000), URL: k}))
	}
	st.mem.CleanUp()
	st.reportBytes()
	if evicted.Load() == 0 {
		t.Error("no eviction reported")
	}
	if n := memBytes.Load(); n <= 0 || n > max {
		t.Errorf("memory bytes %d, want within (0, %d]", n, max)
	}
	if st.Len() >= 200 {
		t.Errorf("index holds %d keys after evictions", st.Len())
	}
}

// openTestDisk opens a store with a disk tier at dir and waits for its
// startup scan.
func openTestDisk(t *testing.T, dir string, diskMax int64, hooks Hooks) *Store {
	t.Helper()
	st, err := NewStore(StoreOptions{MaxBytes: 1 << 20, DiskPath: dir, DiskMaxBytes: diskMax, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !st.disk.ready.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return st
}

func dirBytes(t *testing.T, dir string) (n int64, files int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		if fi, err := de.Info(); err == nil {
			n += fi.Size()
			files++
		}
	}
	return n, files
}

// TestDiskByteBound: the disk tier evicts least recently used files to
// stay within its byte bound, reporting each eviction.
func TestDiskByteBound(t *testing.T) {
	dir := t.TempDir()
	var evicted atomic.Int32
	const max = 16 << 10
	st := openTestDisk(t, dir, max, Hooks{Evicted: func(tier string) {
		if tier == "disk" {
			evicted.Add(1)
		}
	}})
	for i := range 40 {
		k := fmt.Sprintf("https://ex.com/%d", i)
		st.put((*entry)(nil).with(k, &Object{Status: 200, Header: http.Header{}, Body: make([]byte, 2000), URL: k}))
	}
	st.Close() // drains the write queue
	n, files := dirBytes(t, dir)
	if n > max || files == 0 || files >= 40 {
		t.Errorf("disk tier holds %d bytes in %d files, bound %d", n, files, max)
	}
	if evicted.Load() == 0 {
		t.Error("no disk eviction reported")
	}
	st2 := openTestDisk(t, dir, max, Hooks{})
	defer st2.Close()
	if e := st2.get("https://ex.com/39"); e == nil {
		t.Error("the most recent entry was evicted")
	}
}

// TestDiskDeleteVoidsQueuedWrite: a delete purge right after a store must
// win over the store's write still waiting in the queue.
func TestDiskDeleteVoidsQueuedWrite(t *testing.T) {
	dir := t.TempDir()
	st := openTestDisk(t, dir, 1<<30, Hooks{})
	block := make(chan struct{})
	st.disk.create = func(name string) (io.WriteCloser, error) {
		<-block // hold the writer so the writes below wait in the queue
		return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	st.put((*entry)(nil).with("https://ex.com/first", &Object{Status: 200, Header: http.Header{}, URL: "https://ex.com/first"}))
	st.put((*entry)(nil).with("https://ex.com/z", &Object{Status: 200, Header: http.Header{}, Body: []byte("old"), URL: "https://ex.com/z"}))
	if res, err := st.Purge(context.Background(), PurgeRequest{URLs: []string{"https://ex.com/z"}, Mode: PurgeDelete}); err != nil || res.Keys != 1 {
		t.Fatalf("purge: %v %v", res, err)
	}
	close(block)
	st.Close()
	st2 := openTestDisk(t, dir, 1<<30, Hooks{})
	defer st2.Close()
	if e := st2.get("https://ex.com/z"); e != nil {
		t.Errorf("deleted entry came back from disk: %q", e.Objects[0].Body)
	}
	if e := st2.get("https://ex.com/first"); e == nil {
		t.Error("the write before the purge was lost")
	}
}

// TestDiskFullQueueInvalidate: when an invalidating purge's copy cannot
// be queued for the disk, the disk's valid copy is removed at once, so
// neither a restart nor a memory eviction serves it as fresh again.
func TestDiskFullQueueInvalidate(t *testing.T) {
	dir := t.TempDir()
	st := openTestDisk(t, dir, 1<<30, Hooks{})
	key := "https://ex.com/k"
	st.put((*entry)(nil).with(key, &Object{Status: 200, Header: http.Header{}, Body: []byte("fresh"), URL: key, Lifetime: time.Hour, ResponseTime: time.Now()}))
	path := filepath.Join(dir, fileName(key))
	deadline := time.Now().Add(5 * time.Second)
	for {
		st.disk.mu.Lock() // also orders the writer's use of create before the change below
		idle := st.disk.pending == 0
		st.disk.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first write never finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the first write is not on disk: %v", err)
	}
	block := make(chan struct{})
	st.disk.create = func(name string) (io.WriteCloser, error) {
		<-block
		return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	// One write held by the writer, then more than the queue holds.
	for i := range diskQueue + 8 {
		k := fmt.Sprintf("https://ex.com/fill/%d", i)
		st.put((*entry)(nil).with(k, &Object{Status: 200, Header: http.Header{}, URL: k}))
	}
	if res, err := st.Purge(context.Background(), PurgeRequest{URLs: []string{key}}); err != nil || res.Keys != 1 {
		t.Fatalf("purge: %v %v", res, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the valid disk copy survived an invalidation the queue could not take: %v", err)
	}
	if e := st.get(key); e == nil || !e.Objects[0].Invalid {
		t.Error("memory does not hold the invalidated copy")
	}
	close(block)
	st.Close()
	st2 := openTestDisk(t, dir, 1<<30, Hooks{})
	defer st2.Close()
	if e := st2.get(key); e != nil && !e.Objects[0].Invalid {
		t.Error("a restart brought the purged entry back as valid")
	}
}

// TestDiskOldFormatRemoved: files of an earlier format (which kept raw
// Vary values) are not read and do not stay on disk.
func TestDiskOldFormatRemoved(t *testing.T) {
	dir := t.TempDir()
	key := "https://ex.com/old"
	old := filepath.Join(dir, fileName(key))
	if err := os.WriteFile(old, []byte("EGC1\x00\x00\x00\x04junkjunk"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "README")
	if err := os.WriteFile(other, []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := openTestDisk(t, dir, 1<<20, Hooks{})
	defer st.Close()
	if st.get(key) != nil {
		t.Error("an old-format file was read")
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old-format file kept: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not the cache's was touched: %v", err)
	}
}
