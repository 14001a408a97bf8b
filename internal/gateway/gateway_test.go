package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
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

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/testpeer"
)

// syncBuffer lets a test read output that is still being written.
type syncBuffer = testpeer.Buffer

// testGateway is a running gateway on loopback.
type testGateway struct {
	g      *Gateway
	addr   string // first public listener
	admin  string
	logs   *syncBuffer
	access *syncBuffer
	stop   func()
	file   string
}

func (tg *testGateway) url(path string) string { return "http://" + tg.addr + path }

// apply reloads the running gateway with src, as a SIGHUP after editing
// its file would.
func (tg *testGateway) apply(src string) error {
	cfg, err := config.LoadBytes(tg.file, []byte(src))
	if err != nil {
		return err
	}
	return tg.g.Apply(cfg)
}

// startGateway writes src to a file in a temp dir (so relative paths and
// reloads work), loads it and serves it until the test ends.
func startGateway(t *testing.T, src string) *testGateway {
	t.Helper()
	return startGatewayWith(t, src, nil)
}

// startGatewayWith is startGateway with a chance to adjust the loaded
// configuration (fast key rotation, which the schema does not allow).
func startGatewayWith(t *testing.T, src string, mutate func(*config.Config)) *testGateway {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "edgegate.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	if mutate != nil {
		mutate(cfg)
	}
	logs, access := &syncBuffer{}, &syncBuffer{}
	g, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), AccessLog: access})
	if err != nil {
		t.Fatalf("new gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan Listening, 1)
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, func(l Listening) { up <- l }) }()
	var l Listening
	select {
	case l = <-up:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("gateway did not start")
	}
	tg := &testGateway{g: g, addr: l.Public[0], admin: l.Admin, logs: logs, access: access, file: file}
	var once sync.Once
	tg.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("serve returned %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("gateway did not stop")
			}
			g.Close()
		})
	}
	t.Cleanup(tg.stop)
	return tg
}

// echoOrigin answers with what it saw, as JSON, and records every request.
type echoOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	name string
}

type echoed struct {
	Name    string      `json:"name"`
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	RawPath string      `json:"raw_path"`
	Query   string      `json:"query"`
	Host    string      `json:"host"`
	Proto   string      `json:"proto"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
}

func newEchoOrigin(t *testing.T, name string) *echoOrigin {
	o := &echoOrigin{name: name}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.seen = append(o.seen, r)
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Origin", name)
		_ = json.NewEncoder(w).Encode(echoed{Name: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath,
			Query: r.URL.RawQuery, Host: r.Host, Proto: r.Proto, Header: r.Header, Body: string(body)})
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *echoOrigin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

func getEcho(t *testing.T, c *http.Client, req *http.Request) (*http.Response, echoed) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var e echoed
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("decode %q: %v", body, err)
		}
	}
	return resp, e
}

func basicConfig(originURL string, extra string) string {
	return fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
timeouts:
  shutdown: 5s
pools:
  - name: app
    members:
      - url: %s
routes:
  - name: all
    match:
      path_prefix: /
    pool: app
%s`, originURL, extra)
}

func TestForwardBasics(t *testing.T) {
	o := newEchoOrigin(t, "a")
	tg := startGateway(t, basicConfig(o.URL, ""))
	req, _ := http.NewRequest("POST", tg.url("/hello/./world/../there?q=1&x=%20y"), strings.NewReader("payload"))
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-User", "mallory")
	resp, e := getEcho(t, http.DefaultClient, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if e.Path != "/hello/there" || e.Query != "q=1&x=%20y" || e.Body != "payload" || e.Method != "POST" {
		t.Errorf("origin saw %s %s ?%s body %q", e.Method, e.Path, e.Query, e.Body)
	}
	if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer only (client value dropped)", got)
	}
	if got := e.Header.Get("X-Forwarded-User"); got != "" {
		t.Errorf("client identity header reached the origin: %q", got)
	}
	if e.Header.Get("X-Forwarded-Proto") != "http" || e.Header.Get("X-Forwarded-Host") == "" {
		t.Errorf("forwarding headers missing: %v", e.Header)
	}
	id := resp.Header.Get(RequestIDHeader)
	if id == "" || e.Header.Get(RequestIDHeader) != id {
		t.Errorf("request id: response %q, origin %q", id, e.Header.Get(RequestIDHeader))
	}
	// The access log line is JSON with the schema's fields.
	waitFor(t, func() bool { return strings.Contains(tg.access.String(), id) })
	var rec map[string]any
	line := strings.TrimSpace(strings.Split(tg.access.String(), "\n")[0])
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("access log line %q: %v", line, err)
	}
	for _, k := range []string{"time", "request_id", "client_ip", "host", "method", "path", "route", "origin", "status", "bytes_out", "duration_ms", "cache_status"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("access log lacks %q: %s", k, line)
		}
	}
	if rec["route"] != "all" || rec["status"] != float64(200) || rec["path"] != "/hello/there" {
		t.Errorf("access log record %v", rec)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadUnderLoad reloads the configuration repeatedly while clients
// send requests, and requires that no request fails.
func TestReloadUnderLoad(t *testing.T) {
	a, b := newEchoOrigin(t, "a"), newEchoOrigin(t, "b")
	cfgFor := func(i int) string {
		origin := a.URL
		if i%2 == 1 {
			origin = b.URL
		}
		return basicConfig(origin, fmt.Sprintf("    response_headers:\n      set: {X-Generation: \"%d\"}\n", i))
	}
	tg := startGateway(t, cfgFor(0))
	rl := &Reloader{Path: tg.file, Gateway: tg.g}

	const workers, perWorker, reloads = 8, 150, 40
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				resp, err := client.Get(tg.url(fmt.Sprintf("/w/%d", i)))
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d", resp.StatusCode))
				}
			}
		}()
	}
	for i := 1; i <= reloads; i++ {
		if err := os.WriteFile(tg.file, []byte(cfgFor(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := rl.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed across %d reloads; first: %v", n, workers*perWorker, reloads, firstErr.Load())
	}
	if a.count() == 0 || b.count() == 0 {
		t.Errorf("reloads did not switch origins: a=%d b=%d", a.count(), b.count())
	}
	resp, err := http.Get(tg.url("/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Generation"); got != fmt.Sprint(reloads) {
		t.Errorf("after reloads X-Generation = %q, want %d", got, reloads)
	}
}

// TestInFlightFinishesOnOldSnapshot holds a request at the origin across a
// reload that points the route elsewhere: it must complete from the old origin.
func TestInFlightFinishesOnOldSnapshot(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = w.Write([]byte("old"))
	}))
	defer slow.Close()
	fresh := newEchoOrigin(t, "new")
	tg := startGateway(t, basicConfig(slow.URL, ""))

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(tg.url("/held"))
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{body: string(b)}
	}()
	<-arrived
	if err := os.WriteFile(tg.file, []byte(basicConfig(fresh.URL, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Reloader{Path: tg.file, Gateway: tg.g}).Reload(); err != nil {
		t.Fatal(err)
	}
	_, e := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/after")))
	if e.Name != "new" {
		t.Errorf("request after reload went to %q", e.Name)
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "old" {
		t.Fatalf("held request: body %q err %v", r.body, r.err)
	}
}

func mustReq(t *testing.T, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInvalidReloadKeepsOld(t *testing.T) {
	o := newEchoOrigin(t, "a")
	tg := startGateway(t, basicConfig(o.URL, ""))
	hash := tg.g.Snapshot().Config.Hash
	bad := strings.Replace(basicConfig(o.URL, ""), "pool: app", "pool: missing", 1)
	if err := os.WriteFile(tg.file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := (&Reloader{Path: tg.file, Gateway: tg.g}).Reload()
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("reload of a bad file: err = %v, want config.ErrInvalid", err)
	}
	if tg.g.Snapshot().Config.Hash != hash {
		t.Fatal("a rejected file replaced the active configuration")
	}
	if !strings.Contains(tg.logs.String(), "keeping the active one") || !strings.Contains(tg.logs.String(), "missing") {
		t.Errorf("the rejection is not logged with its reason: %s", tg.logs.String())
	}
	resp, _ := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/still")))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d after rejected reload", resp.StatusCode)
	}
}

// TestFileWatchReload changes the file on disk and waits for the watcher.
func TestFileWatchReload(t *testing.T) {
	a, b := newEchoOrigin(t, "a"), newEchoOrigin(t, "b")
	tg := startGateway(t, basicConfig(a.URL, ""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = (&Reloader{Path: tg.file, Gateway: tg.g, Debounce: 20 * time.Millisecond}).Run(ctx, nil) }()
	time.Sleep(100 * time.Millisecond) // let the watcher subscribe
	// Replace by rename, as editors and ConfigMaps do.
	tmp := tg.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(basicConfig(b.URL, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, tg.file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, e := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/w")))
		return e.Name == "b"
	})
}

func TestOriginFailures(t *testing.T) {
	// A port that refuses: bind, then close.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()

	resetter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer resetter.Close()

	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
timeouts: {origin_response: 300ms, origin_connect: 1s, shutdown: 2s}
pools:
  - name: dead
    members: [%s]
    retries: 0
  - name: slow
    members: [%s]
  - name: reset
    members: [%s]
  - name: down
    members: [%s]
    passive: {max_failures: 1, window: 10s, eject_for: 1m}
    retries: 0
routes:
  - {name: dead, match: {path_prefix: /dead}, pool: dead}
  - {name: slow, match: {path_prefix: /slow}, pool: slow}
  - {name: reset, match: {path_prefix: /reset}, pool: reset}
  - {name: down, match: {path_prefix: /down}, pool: down}
`, dead, slow.URL, resetter.URL, dead)
	tg := startGateway(t, src)

	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/dead", 502, "origin.connect"},
		{"/slow", 504, "origin.timeout"},
		{"/down", 502, "origin.connect"},     // first failure ejects the only member...
		{"/down", 503, "origin.unavailable"}, // ...so the next finds none healthy
	} {
		start := time.Now()
		resp, err := http.Get(tg.url(tc.path))
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.code) {
			t.Errorf("%s: %d %s, want %d %s", tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
		if resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get(RequestIDHeader) == "" {
			t.Errorf("%s: error response headers %v", tc.path, resp.Header)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("%s: client waited %v", tc.path, d)
		}
	}
	// Browsers get an HTML page.
	req := mustReq(t, "GET", tg.url("/dead"))
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "502") {
		t.Errorf("HTML error page: %s %s", resp.Header.Get("Content-Type"), body)
	}
	// An origin that resets mid-body: the client must see an error, never a
	// short body that looks complete.
	resp, err = http.Get(tg.url("/reset"))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a reset mid-body reached the client as a complete response")
	}
}

func TestLimits(t *testing.T) {
	o := newEchoOrigin(t, "a")
	src := strings.Replace(basicConfig(o.URL, "    max_body_bytes: 1KiB\n"), "timeouts:", "limits: {max_header_bytes: 4KiB}\ntimeouts:", 1)
	tg := startGateway(t, src)
	resp, err := http.Post(tg.url("/big"), "text/plain", strings.NewReader(strings.Repeat("x", 2048)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("declared oversize body: %d, want 413", resp.StatusCode)
	}
	// Chunked body over the limit: caught while streaming.
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte(strings.Repeat("y", 4096))); pw.Close() }()
	req, _ := http.NewRequest("POST", tg.url("/big"), pr)
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked oversize body: %d, want 413", resp.StatusCode)
		}
	}
	req = mustReq(t, "GET", tg.url("/hdr"))
	req.Header.Set("X-Big", strings.Repeat("z", 8192))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 {
		t.Errorf("oversize header: %d, want 431", resp.StatusCode)
	}
	// The declared-size body and the oversize header never reach the origin;
	// the chunked one is streamed and cut (so at most that one arrives, cut short).
	if n := o.count(); n > 1 {
		t.Errorf("origin saw %d oversize requests", n)
	}
}

func TestTrailersAndStreaming(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "chunk %d\n", i)
			fl.Flush()
		}
		w.Header().Set("X-Checksum", "abc123")
	}))
	defer origin.Close()
	tg := startGateway(t, basicConfig(origin.URL, ""))
	resp, err := http.Get(tg.url("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "chunk 0\n" {
		t.Fatalf("first chunk %q %v", line, err)
	}
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if string(rest) != "chunk 1\nchunk 2\n" {
		t.Errorf("rest %q", rest)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc123" {
		t.Errorf("trailer X-Checksum = %q", got)
	}
}

func TestAdminEndpoints(t *testing.T) {
	o := newEchoOrigin(t, "a")
	tg := startGateway(t, basicConfig(o.URL, ""))
	resp, _ := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/count-me")))
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready",
		"/metrics": `edgegate_requests_total{code="200",route="all"} 1`,
		"/status":  `"name": "app"`,
	} {
		resp, err := http.Get("http://" + tg.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("admin %s: %d, body lacks %q:\n%.2000s", path, resp.StatusCode, want, b)
		}
	}
	resp, err := http.Get("http://" + tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"edgegate_pool_in_flight_requests", "edgegate_request_duration_seconds_bucket", "edgegate_origin_healthy", "edgegate_config_reloads_total"} {
		if !strings.Contains(string(b), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	arrived := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		time.Sleep(300 * time.Millisecond)
		_, _ = w.Write([]byte("finished"))
	}))
	defer origin.Close()
	tg := startGateway(t, basicConfig(origin.URL, ""))
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(tg.url("/drain"))
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-arrived
	tg.stop()
	if r := <-got; r != "finished" {
		t.Fatalf("in-flight request during shutdown: %q", r)
	}
	if _, err := net.DialTimeout("tcp", tg.addr, time.Second); err == nil {
		t.Error("listener still accepting after shutdown")
	}
}

func TestTLSListenerHTTP2AndHTTP1(t *testing.T) {
	o := newEchoOrigin(t, "a")
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	src := fmt.Sprintf(`version: 1
listeners:
  - address: "127.0.0.1:0"
    tls: {cert_file: %s, key_file: %s}
admin: {address: "off"}
pools: [{name: app, members: [%s]}]
routes: [{name: all, pool: app}]
`, cert, key, o.URL)
	tg := startGateway(t, src)
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr}
		resp, e := getEcho(t, c, mustReq(t, "GET", "https://"+tg.addr+"/tls"))
		wantProto := "HTTP/1.1"
		if h2 {
			wantProto = "HTTP/2.0"
		}
		if resp.StatusCode != 200 || resp.Proto != wantProto {
			t.Errorf("h2=%v: %d %s", h2, resp.StatusCode, resp.Proto)
		}
		if e.Header.Get("X-Forwarded-Proto") != "https" {
			t.Errorf("h2=%v: X-Forwarded-Proto = %q", h2, e.Header.Get("X-Forwarded-Proto"))
		}
		tr.CloseIdleConnections()
	}
	// HTTP/1.1 over TLS passes the framing guard too.
	conn, err := tls.Dial("tcp", tg.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := "POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	if _, err := conn.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("CL+TE over TLS: %d, want 400", resp.StatusCode)
	}
	if n := o.count(); n != 2 {
		t.Errorf("origin saw %d requests, want the 2 good ones", n)
	}
}
