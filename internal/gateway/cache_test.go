package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/cache"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/script"
	"github.com/google/go-cmp/cmp"
)

// cacheOrigin answers with headers chosen per path and counts requests per
// path; the body names the request so a test can see whose answer it got.
type cacheOrigin struct {
	*httptest.Server
	mu    sync.Mutex
	count map[string]int
	// header returns the response header for a path.
	header func(r *http.Request) http.Header
	status func(r *http.Request) int
	delay  time.Duration
}

func newCacheOrigin(t *testing.T, header func(r *http.Request) http.Header) *cacheOrigin {
	o := &cacheOrigin{count: map[string]int{}, header: header}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.count[r.URL.Path]++
		n := o.count[r.URL.Path]
		o.mu.Unlock()
		if o.delay > 0 {
			time.Sleep(o.delay)
		}
		for k, vv := range o.header(r) {
			w.Header()[k] = vv
		}
		status := 200
		if o.status != nil {
			status = o.status(r)
		}
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == w.Header().Get("Etag") {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "n=%d auth=%q xfh=%q", n, r.Header.Get("Authorization"), r.Header.Get("X-Forwarded-Host"))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *cacheOrigin) hits(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[path]
}

func cachedConfig(originURL, cacheSection, routeCache string) string {
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
timeouts: {shutdown: 5s}
pools: [{name: app, members: [%s], retries: 0, passive: {max_failures: 0}}]
%s
routes:
  - name: all
    pool: app
    cache: %s
`, originURL, cacheSection, routeCache)
}

type got struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, method, url string, h map[string]string) got {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return got{resp.StatusCode, string(b), resp.Header}
}

// scrape reads one sample from the admin /metrics.
func scrape(t *testing.T, tg *testGateway, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

func fixed(h ...string) func(*http.Request) http.Header {
	return func(*http.Request) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(h); i += 2 {
			out.Add(h[i], h[i+1])
		}
		return out
	}
}

func TestCacheHitMissAndHead(t *testing.T) {
	o := newCacheOrigin(t, fixed("Cache-Control", "max-age=60", "Content-Type", "text/plain", "Cache-Tag", "a"))
	tg := startGateway(t, cachedConfig(o.URL, "", "{}"))
	first := do(t, "GET", tg.url("/doc"), nil)
	if !strings.HasPrefix(first.body, "n=1 ") || !strings.Contains(first.header.Get("Cache-Status"), "fwd=miss") || !strings.Contains(first.header.Get("Cache-Status"), "stored") {
		t.Fatalf("first: %+v", first)
	}
	second := do(t, "GET", tg.url("/doc"), nil)
	if second.body != first.body || !strings.HasPrefix(second.header.Get("Cache-Status"), "edgegate; hit; ttl=") || second.header.Get("Age") == "" {
		t.Fatalf("second is not a hit: %+v", second)
	}
	if second.header.Get("X-Request-Id") == first.header.Get("X-Request-Id") {
		t.Error("a hit repeats the stored request ID")
	}
	head := do(t, "HEAD", tg.url("/doc"), nil)
	if head.status != 200 || !strings.Contains(head.header.Get("Cache-Status"), "hit") || head.header.Get("Content-Length") != fmt.Sprint(len(first.body)) {
		t.Fatalf("HEAD not served from the stored GET: %+v", head)
	}
	cond := do(t, "GET", tg.url("/doc"), map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)})
	if cond.status != 200 {
		// No Last-Modified stored: the condition cannot be judged.
		t.Errorf("conditional without validators: %d", cond.status)
	}
	if n := o.hits("/doc"); n != 1 {
		t.Errorf("origin saw %d requests, want 1", n)
	}
	if v := scrape(t, tg, `edgegate_cache_requests_total{status="hit"}`); v < 2 {
		t.Errorf("hit metric = %v", v)
	}
	tg.stop()
	for _, want := range []string{`"cache_status":"miss"`, `"cache_status":"hit"`} {
		if !strings.Contains(tg.access.String(), want) {
			t.Errorf("access log lacks %s:\n%s", want, tg.access.String())
		}
	}
}

func TestCacheDirectivesThroughGateway(t *testing.T) {
	o := newCacheOrigin(t, func(r *http.Request) http.Header {
		h := http.Header{}
		switch r.URL.Path {
		case "/no-store":
			h.Set("Cache-Control", "no-store, max-age=60")
		case "/private":
			h.Set("Cache-Control", "private, max-age=60")
		case "/none":
		case "/vary-star":
			h.Set("Cache-Control", "max-age=60")
			h.Set("Vary", "*")
		case "/cookie":
			h.Set("Cache-Control", "max-age=60")
			h.Set("Set-Cookie", "sid=abc")
		case "/cdn":
			h.Set("Cache-Control", "no-store")
			h.Set("CDN-Cache-Control", "max-age=60")
		case "/surrogate":
			h.Set("Cache-Control", "no-store")
			h.Set("Surrogate-Control", "max-age=60")
		case "/assertion":
			h.Set("Cache-Control", "max-age=60")
			h.Set("Edgegate-Assertion", "echoed")
		}
		return h
	})
	tg := startGateway(t, cachedConfig(o.URL, "", "{}"))
	for _, tc := range []struct {
		path   string
		cached bool
	}{
		{"/no-store", false}, {"/private", false}, {"/none", false}, {"/vary-star", false},
		{"/cookie", false}, {"/cdn", true}, {"/surrogate", true}, {"/assertion", true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			do(t, "GET", tg.url(tc.path), nil)
			g := do(t, "GET", tg.url(tc.path), nil)
			if hit := o.hits(tc.path) == 1; hit != tc.cached {
				t.Errorf("cached = %v, want %v (origin saw %d, Cache-Status %q)", hit, tc.cached, o.hits(tc.path), g.header.Get("Cache-Status"))
			}
			if tc.path == "/surrogate" && g.header.Get("Surrogate-Control") != "" {
				t.Error("Surrogate-Control reached the client")
			}
			if tc.path == "/assertion" && g.header.Get("Edgegate-Assertion") != "" {
				t.Error("the identity assertion header was stored")
			}
		})
	}
}

// TestCacheCrossIdentity covers security-tests.md §7: one caller's answer
// never reaches another unless the origin marked it shareable.
func TestCacheCrossIdentity(t *testing.T) {
	o := newCacheOrigin(t, func(r *http.Request) http.Header {
		h := http.Header{}
		switch {
		case strings.HasPrefix(r.URL.Path, "/public"):
			h.Set("Cache-Control", "public, max-age=60")
		case strings.HasPrefix(r.URL.Path, "/vary-auth"):
			h.Set("Cache-Control", "max-age=60")
			h.Set("Vary", "Authorization")
		case strings.HasPrefix(r.URL.Path, "/vary-cookie"):
			h.Set("Cache-Control", "max-age=60")
			h.Set("Vary", "Cookie")
		default:
			h.Set("Cache-Control", "max-age=60")
		}
		return h
	})
	o.status = func(r *http.Request) int {
		if strings.HasPrefix(r.URL.Path, "/forbidden") {
			return http.StatusForbidden
		}
		return 200
	}
	tg := startGateway(t, cachedConfig(o.URL, "", "{}"))
	alice := map[string]string{"Authorization": "Bearer alice"}
	bob := map[string]string{"Authorization": "Bearer bob"}
	for _, tc := range []struct {
		name, path string
		first      map[string]string
		then       map[string]string
		shared     bool
	}{
		{"no directive, bearer then bearer", "/plain", alice, bob, false},
		{"no directive, bearer then anonymous", "/plain2", alice, nil, false},
		{"anonymous then bearer", "/plain3", nil, alice, false},
		{"public, bearer then bearer", "/public", alice, bob, true},
		{"vary authorization", "/vary-auth", alice, bob, false},
		{"vary cookie", "/vary-cookie", map[string]string{"Cookie": "sid=alice"}, map[string]string{"Cookie": "sid=bob"}, false},
		{"403 page", "/forbidden", alice, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, "GET", tg.url(tc.path), tc.first)
			b := do(t, "GET", tg.url(tc.path), tc.then)
			if shared := a.body == b.body; shared != tc.shared {
				t.Errorf("second caller got the first one's answer = %v, want %v\nfirst:  %s\nsecond: %s (%s)", shared, tc.shared, a.body, b.body, b.header.Get("Cache-Status"))
			}
		})
	}
	t.Run("unkeyed X-Forwarded-Host", func(t *testing.T) {
		do(t, "GET", tg.url("/xfh"), map[string]string{"X-Forwarded-Host": "evil.example"})
		g := do(t, "GET", tg.url("/xfh"), nil)
		if strings.Contains(g.body, "evil") {
			t.Errorf("an unkeyed X-Forwarded-Host poisoned the cache: %s", g.body)
		}
	})
}

func TestCacheCollapsing(t *testing.T) {
	o := newCacheOrigin(t, func(r *http.Request) http.Header {
		if r.URL.Path == "/uncacheable" {
			return fixed("Cache-Control", "no-store")(r)
		}
		return fixed("Cache-Control", "max-age=60")(r)
	})
	o.delay = 150 * time.Millisecond
	tg := startGateway(t, cachedConfig(o.URL, "cache: {collapse_timeout: 10s}", "{}"))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	run := func(path string) []string {
		const n = 16
		var wg sync.WaitGroup
		bodies := make([]string, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := client.Get(tg.url(path))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				bodies[i] = string(b)
			}()
		}
		close(start)
		wg.Wait()
		return bodies
	}
	bodies := run("/shared")
	if n := o.hits("/shared"); n != 1 {
		t.Errorf("16 concurrent misses made %d origin requests, want 1", n)
	}
	for _, b := range bodies {
		if b != bodies[0] {
			t.Fatalf("collapsed requests got different answers: %q vs %q", b, bodies[0])
		}
	}
	if v := scrape(t, tg, "edgegate_cache_collapsed_total"); v < 1 {
		t.Errorf("collapsed metric = %v", v)
	}
	run("/uncacheable")
	if n := o.hits("/uncacheable"); n != 16 {
		t.Errorf("uncacheable: origin saw %d requests, want 16 (waiters must be released)", n)
	}
}

func TestCacheRevalidateAndInvalidate(t *testing.T) {
	var version atomic.Int32
	o := newCacheOrigin(t, func(r *http.Request) http.Header {
		return fixed("Cache-Control", "max-age=0", "Etag", `"v1"`, "X-Version", fmt.Sprint(version.Load()))(r)
	})
	tg := startGateway(t, cachedConfig(o.URL, "", "{}"))
	do(t, "GET", tg.url("/r"), nil)
	version.Store(7)
	g := do(t, "GET", tg.url("/r"), nil)
	if !strings.Contains(g.header.Get("Cache-Status"), "revalidated") || g.header.Get("X-Version") != "7" || !strings.HasPrefix(g.body, "n=1 ") {
		t.Fatalf("304 did not revalidate and update the stored header: %+v", g)
	}

	o2 := newCacheOrigin(t, fixed("Cache-Control", "max-age=60", "Location", "/other"))
	tg2 := startGateway(t, cachedConfig(o2.URL, "", "{}"))
	do(t, "GET", tg2.url("/item"), nil)
	do(t, "GET", tg2.url("/other"), nil)
	if p := do(t, "POST", tg2.url("/item"), nil); !strings.Contains(p.header.Get("Cache-Status"), "fwd=method") {
		t.Errorf("POST Cache-Status %q", p.header.Get("Cache-Status"))
	}
	do(t, "GET", tg2.url("/item"), nil)
	do(t, "GET", tg2.url("/other"), nil)
	if o2.hits("/item") != 3 || o2.hits("/other") != 2 {
		t.Errorf("after POST: origin saw /item %d (want 3: GET, POST, GET), /other %d (want 2: Location invalidated)", o2.hits("/item"), o2.hits("/other"))
	}
}

func TestCachePurgeAPI(t *testing.T) {
	t.Setenv("EDGEGATE_TEST_PURGE", "s3cret-purge")
	o := newCacheOrigin(t, func(r *http.Request) http.Header {
		h := fixed("Cache-Control", "max-age=600")(r)
		if strings.HasPrefix(r.URL.Path, "/tagged") {
			h.Set("Surrogate-Key", "blue green")
		}
		return h
	})
	tg := startGateway(t, cachedConfig(o.URL, "cache: {purge: {token_env: EDGEGATE_TEST_PURGE}}", "{}"))
	paths := []string{"/a", "/dir/one", "/dir/two", "/tagged/x", "/tagged/y"}
	for _, p := range paths {
		do(t, "GET", tg.url(p), nil)
	}
	purge := func(token, body string) got { return purgeCall(t, tg, token, body) }
	host := "http://127.0.0.1"
	for _, tc := range []struct {
		name, token, body string
		status            int
	}{
		{"no token", "", `{"urls":["` + host + `/a"]}`, 401},
		{"wrong token", "nope", `{"urls":["` + host + `/a"]}`, 403},
		{"bad url", "s3cret-purge", `{"urls":["/relative"]}`, 400},
		{"bad json", "s3cret-purge", `{"urls":`, 400},
		{"unknown field", "s3cret-purge", `{"url":"x"}`, 400},
		{"bad mode", "s3cret-purge", `{"urls":["` + host + `/a"],"mode":"nuke"}`, 400},
		{"empty", "s3cret-purge", `{}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := purge(tc.token, tc.body); g.status != tc.status {
				t.Errorf("status %d, want %d: %s", g.status, tc.status, g.body)
			} else if strings.Contains(g.body, "s3cret") {
				t.Error("the token leaked into the answer")
			}
		})
	}
	if g := purge("s3cret-purge", `{"urls":["`+host+`/a"],"mode":"delete"}`); g.status != 200 || !strings.Contains(g.body, `"purged":1`) {
		t.Fatalf("purge by URL: %d %s", g.status, g.body)
	}
	if g := purge("s3cret-purge", `{"prefixes":["`+host+`/dir/"]}`); !strings.Contains(g.body, `"purged":2`) {
		t.Fatalf("purge by prefix: %s", g.body)
	}
	if g := purge("s3cret-purge", `{"tags":["green"]}`); !strings.Contains(g.body, `"purged":2`) {
		t.Fatalf("purge by tag: %s", g.body)
	}
	for _, p := range paths {
		do(t, "GET", tg.url(p), nil)
		if n := o.hits(p); n != 2 {
			t.Errorf("%s: origin saw %d requests after the purge, want 2", p, n)
		}
	}
	if strings.Contains(tg.logs.String(), "s3cret") {
		t.Errorf("the purge token was logged:\n%s", tg.logs.String())
	}
	if v := scrape(t, tg, `edgegate_cache_purges_total{result="ok"}`); v != 3 {
		t.Errorf("ok purges = %v, want 3", v)
	}
}

func TestCacheDiskTier(t *testing.T) {
	o := newCacheOrigin(t, fixed("Cache-Control", "max-age=600"))
	dir := t.TempDir()
	cfg := cachedConfig(o.URL, "cache: {disk: {path: "+filepath.Join(dir, "tier")+"}}", "{}")
	tg := startGateway(t, cfg)
	first := do(t, "GET", tg.url("/persist"), nil)
	// The disk write is asynchronous: wait for the file before restarting.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(dir, "tier"))
		if len(ents) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tg.stop()

	tg2 := startGateway(t, cfg)
	again := do(t, "GET", tg2.url("/persist"), nil)
	if again.body != first.body || !strings.Contains(again.header.Get("Cache-Status"), "hit") || o.hits("/persist") != 1 {
		t.Fatalf("not served from the disk tier after a restart: %+v (origin saw %d)", again, o.hits("/persist"))
	}
}

func TestCacheFullDiskDegrades(t *testing.T) {
	o := newCacheOrigin(t, fixed("Cache-Control", "max-age=600"))
	dir := filepath.Join(t.TempDir(), "tier")
	tg := startGateway(t, cachedConfig(o.URL, "cache: {disk: {path: "+dir+"}}", "{}"))
	// Make the tier unwritable under the running gateway (root ignores
	// permissions, so replace the directory with a file).
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		g := do(t, "GET", tg.url("/degraded"), nil)
		if g.status != 200 {
			t.Fatalf("request %d failed with a broken disk tier: %d", i, g.status)
		}
	}
	if n := o.hits("/degraded"); n != 1 {
		t.Errorf("memory tier did not serve: origin saw %d", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for scrape(t, tg, "edgegate_cache_disk_errors_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if scrape(t, tg, "edgegate_cache_disk_errors_total") == 0 || !strings.Contains(tg.logs.String(), "cache disk tier failed") {
		t.Errorf("disk failure not counted and logged:\n%s", tg.logs.String())
	}
}

// BenchmarkCacheHit measures a cached hit through the whole pipeline.
func BenchmarkCacheHit(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write([]byte("hello world\n"))
	}))
	defer origin.Close()
	file := filepath.Join(b.TempDir(), "edgegate.yaml")
	if err := os.WriteFile(file, []byte(cachedConfig(origin.URL, "log: {access: false}", "{}")), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan Listening, 1)
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, func(l Listening) { up <- l }) }()
	l := <-up
	defer func() { cancel(); <-done; g.Close() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + l.Public[0] + "/bench/hit?q=1"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestCacheStripsConfiguredAssertion: with assertion.header renamed, an
// origin echoing the assertion (or the X-Forwarded-* identity headers)
// back does not get it into the stored response.
func TestCacheStripsConfiguredAssertion(t *testing.T) {
	o := newCacheOrigin(t, fixed("Cache-Control", "public, max-age=60",
		"X-Edge-Identity", "echoed-assertion", "X-Forwarded-User", "alice", "X-Forwarded-Email", "alice@example.com",
		"X-Forwarded-Groups", "admins", "Edgegate-Assertion", "echoed-default", "X-Kept", "yes"))
	tg := startGateway(t, cachedConfig(o.URL, "assertion: {header: x-edge-identity}", "{}"))
	do(t, "GET", tg.url("/echo"), nil)
	hit := do(t, "GET", tg.url("/echo"), nil)
	if !strings.Contains(hit.header.Get("Cache-Status"), "hit") || o.hits("/echo") != 1 {
		t.Fatalf("second request not a hit: %q", hit.header.Get("Cache-Status"))
	}
	for _, h := range []string{"X-Edge-Identity", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "Edgegate-Assertion"} {
		if v := hit.header.Get(h); v != "" {
			t.Errorf("%s: %q was stored", h, v)
		}
	}
	if hit.header.Get("X-Kept") != "yes" {
		t.Error("an ordinary header was not stored")
	}
}

// TestCachePerIdentityBearer: on a bearer route with per_identity, the
// verified subject is part of the key: alice's and bob's answers never
// cross, and alice's next token (same subject) finds her entry.
func TestCachePerIdentityBearer(t *testing.T) {
	p := newLocalIdP(t, t.TempDir())
	var mu sync.Mutex
	count := map[string]int{}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.Header.Get("X-Forwarded-User")
		mu.Lock()
		count[user]++
		n := count[user]
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60") // not shareable by itself
		fmt.Fprintf(w, "for=%s n=%d auth=%q", user, n, r.Header.Get("Authorization"))
	}))
	defer origin.Close()
	routes := `  - {name: me, match: {path_prefix: /api/me}, pool: app, auth: {mode: bearer}, allow: [{expr: "true"}], cache: {per_identity: true}}
  - {name: shared, match: {path_prefix: /api}, pool: app, auth: {mode: bearer}, allow: [{expr: "true"}], cache: {}}
`
	tg := startGateway(t, bearerConfig(origin.URL, fmt.Sprintf(`  issuers:
    - name: local
      issuer: %s
      jwks_file: %s
      audiences: [api]
`, p.iss, p.file), routes)+"assertion: {forward_identity_headers: true}\n")
	token := func(sub string, i int) map[string]string {
		c := p.claims()
		c["sub"], c["jti"] = sub, fmt.Sprint(sub, i)
		return map[string]string{"Authorization": "Bearer " + p.sign(t, "ES256", c, nil)}
	}
	for i, tc := range []struct {
		who, path, body, cs string
	}{
		{"alice", "/api/me", "for=alice n=1", "stored"},
		{"alice", "/api/me", "for=alice n=1", "hit"}, // a new token, the same subject
		{"bob", "/api/me", "for=bob n=1", "stored"},
		{"bob", "/api/me", "for=bob n=1", "hit"},
		{"alice", "/api/me", "for=alice n=1", "hit"},
		// Without per_identity a credentialed answer is not stored.
		{"alice", "/api/other", "for=alice n=2", "detail=authorization"},
		{"bob", "/api/other", "for=bob n=2", "detail=authorization"},
	} {
		g := do(t, "GET", tg.url(tc.path), token(tc.who, i))
		cs := g.header.Get("Cache-Status")
		if g.status != 200 || !strings.HasPrefix(g.body, tc.body) || !strings.Contains(cs, tc.cs) {
			t.Errorf("%d %s %s: %d %q (%s), want %q (%s)", i, tc.who, tc.path, g.status, g.body, cs, tc.body, tc.cs)
		}
		if strings.Contains(g.body, "Bearer") {
			t.Errorf("%d: the caller's token reached the origin", i)
		}
	}
	if g := do(t, "GET", tg.url("/api/me"), nil); g.status != http.StatusUnauthorized {
		t.Errorf("anonymous on the per-identity route: %d %q", g.status, g.body)
	}
}

// purgeRecords reads the cache.purge records of an audit file.
func purgeRecords(t *testing.T, file string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec audit.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Kind == audit.KindPurge {
			out = append(out, rec)
		}
	}
	return out
}

func purgeCall(t *testing.T, tg *testGateway, token, body string) got {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+tg.admin+"/cache/purge", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return got{resp.StatusCode, string(b), resp.Header}
}

// TestCachePurgeAudited: allowed and denied purges are cache.purge audit
// records, the allowed one written before the purge runs.
func TestCachePurgeAudited(t *testing.T) {
	t.Setenv("EDGEGATE_TEST_PURGE", "s3cret-purge")
	o := newCacheOrigin(t, fixed("Cache-Control", "max-age=600"))
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	tg := startGateway(t, cachedConfig(o.URL, fmt.Sprintf("cache: {purge: {token_env: EDGEGATE_TEST_PURGE}}\naudit:\n  sinks: [{type: file, path: %q}]", file), "{}"))
	do(t, "GET", tg.url("/a"), nil)
	body := `{"urls":["http://127.0.0.1/a"],"mode":"delete"}`
	for _, tc := range []struct {
		token  string
		status int
	}{{"", 401}, {"nope", 403}, {"s3cret-purge", 200}} {
		if g := purgeCall(t, tg, tc.token, body); g.status != tc.status {
			t.Errorf("token %q: %d %s, want %d", tc.token, g.status, g.body, tc.status)
		}
	}
	tg.stop()
	recs := purgeRecords(t, file)
	var got []string
	for _, r := range recs {
		got = append(got, r.Decision+"/"+r.Reason)
		if r.Decision == "allow" && (r.Detail["mode"] != "delete" || r.Detail["urls"] != "http://127.0.0.1/a" || r.Fingerprint == "") {
			t.Errorf("allowed purge record: %+v", r)
		}
	}
	if want := []string{"deny/no_token", "deny/bad_token", "allow/purge"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cache.purge records %v, want %v", got, want)
	}
	if raw, _ := os.ReadFile(file); strings.Contains(string(raw), "s3cret") {
		t.Error("the purge token is in the audit trail")
	}
}

// TestCachePurgeFailClosed: under fail_closed, a purge the audit trail
// cannot take is refused with 503 and nothing is purged.
func TestCachePurgeFailClosed(t *testing.T) {
	t.Setenv("EDGEGATE_TEST_PURGE", "s3cret-purge")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	o := newCacheOrigin(t, fixed("Cache-Control", "max-age=600"))
	spool := filepath.Join(t.TempDir(), "spool")
	tg := startGateway(t, cachedConfig(o.URL, fmt.Sprintf(
		"cache: {purge: {token_env: EDGEGATE_TEST_PURGE}}\naudit:\n  policy: fail_closed\n  spool: {dir: %q, max_bytes: 4KiB}\n  sinks: [{name: siem, type: http, url: \"http://%s/\"}]", spool, dead), "{}"))
	do(t, "GET", tg.url("/a"), nil)
	// Fill the spool of the unreachable collector.
	for i := range 200 {
		if tg.g.record(context.Background(), audit.Event{Kind: audit.KindPolicyDeny, RequestID: fmt.Sprint(i), Decision: "deny"}) != nil {
			break
		}
	}
	g := purgeCall(t, tg, "s3cret-purge", `{"urls":["http://127.0.0.1/a"],"mode":"delete"}`)
	if g.status != http.StatusServiceUnavailable || !strings.Contains(g.body, "purge.audit_unavailable") {
		t.Fatalf("purge without an audit trail: %d %s", g.status, g.body)
	}
	if h := do(t, "GET", tg.url("/a"), nil); !strings.Contains(h.header.Get("Cache-Status"), "hit") || o.hits("/a") != 1 {
		t.Errorf("the refused purge removed the entry: %q, origin %d", h.header.Get("Cache-Status"), o.hits("/a"))
	}
}

// TestWithScriptKeyRefusesCredentials: request.cacheKey cannot put the
// login session cookie (or its -login companion), Authorization or Cookie
// into a key, as the configuration cannot.
func TestWithScriptKeyRefusesCredentials(t *testing.T) {
	base := &cache.Route{Key: cache.KeySpec{Cookies: []string{"locale"}}}
	ck := &script.CacheKey{
		Cookies: []string{"__Host-sess", "__Host-sess-login", "ab", "locale"},
		Headers: []string{"authorization", "Cookie", "Proxy-Authorization", "X-Device"},
	}
	out := withScriptKey(base, ck, "__Host-sess")
	if diff := cmp.Diff([]string{"locale", "ab"}, out.Key.Cookies); diff != "" {
		t.Errorf("cookies (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"X-Device"}, out.Key.Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if len(base.Key.Cookies) != 1 {
		t.Error("the route's own key was changed")
	}
	if got := sessionCookieName(&config.Config{}); got != config.DefaultLoginCookieName {
		t.Errorf("session cookie without login: %q", got)
	}
}
