package cache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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

// testServe drives Cache.Serve against a real origin server.
type testServe struct {
	c      *Cache
	origin *httptest.Server
	hits   atomic.Int32
}

func newTestServe(t *testing.T, h http.HandlerFunc) *testServe {
	st, err := NewStore(StoreOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Store: st, CollapseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServe{c: c}
	ts.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(func() { ts.origin.Close(); c.Wait(); st.Close() })
	return ts
}

func (ts *testServe) get(t *testing.T, rt *Route, r *http.Request, subject string) *httptest.ResponseRecorder {
	t.Helper()
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
	if _, err := ts.c.Serve(rec, req, rt, origin, func(int, http.Header) {}); err != nil {
		t.Fatal(err)
	}
	return rec
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
		st.put((*entry)(nil).with(key, &Object{Status: 200, Header: http.Header{}, URL: url, VaryNames: []string{"accept-encoding"}, VaryValues: []string{"gzip"}}))
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
