package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
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
	purge := func(token, body string) got {
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
