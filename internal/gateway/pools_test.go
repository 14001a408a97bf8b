package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// TestRetryAndFailover: a dead member is retried on a live one, and a pool
// whose members are all down fails over to its backup pool.
func TestRetryAndFailover(t *testing.T) {
	live, backup := newEchoOrigin(t, "live"), newEchoOrigin(t, "backup")
	dead1, dead2 := deadURL(t), deadURL(t)
	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
pools:
  - name: mixed
    members: [%s, %s]
    retries: 1
  - name: primary
    members: [%s]
    retries: 1
    failover: standby
  - name: standby
    members: [%s]
routes:
  - {name: mixed, match: {path_prefix: /mixed}, pool: mixed}
  - {name: failover, match: {path_prefix: /fo}, pool: primary}
`, dead1, live.URL, dead2, backup.URL)
	tg := startGateway(t, src)
	for i := 0; i < 6; i++ { // round robin puts the dead member first half the time
		resp, e := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/mixed")))
		if resp.StatusCode != 200 || e.Name != "live" {
			t.Fatalf("request %d: %d from %q", i, resp.StatusCode, e.Name)
		}
	}
	// A POST with a body is retried only because nothing was sent.
	resp, err := http.Post(tg.url("/mixed/post"), "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST after connect failure: %d", resp.StatusCode)
	}
	resp, e := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/fo")))
	if resp.StatusCode != 200 || e.Name != "backup" {
		t.Errorf("failover: %d from %q", resp.StatusCode, e.Name)
	}
}

func TestRedirects(t *testing.T) {
	o := newEchoOrigin(t, "a")
	dir := t.TempDir()
	mapFile := filepath.Join(dir, "moved.txt")
	if err := os.WriteFile(mapFile, []byte("# moved pages\n/old/a https://new.example.com/a\n/old/b /b?from=map\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
pools: [{name: app, members: [%s]}]
routes:
  - name: bulk
    match: {path_prefix: /old}
    pool: app
    redirect: {map_file: %s, status: 308, keep_query: true}
  - name: single
    match: {path_exact: /go}
    redirect: {to: "https://example.com/landing"}
`, o.URL, mapFile)
	tg := startGateway(t, src)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, loc string
		status    int
	}{
		{"/old/a?x=1", "https://new.example.com/a?x=1", 308},
		{"/old/b?x=1", "/b?from=map&x=1", 308},
		{"/go?drop=me", "https://example.com/landing", 302},
		{"/old/unlisted", "", 200}, // not in the map: served by the pool
	} {
		resp, err := c.Get(tg.url(tc.path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.loc {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.loc)
		}
	}
}

func TestHeaderOpsAndRewrite(t *testing.T) {
	o := newEchoOrigin(t, "a")
	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
pools: [{name: app, members: [%s]}]
routes:
  - name: api
    match: {hosts: ["*.example.com"], path_prefix: /api, methods: [GET], headers: [{name: X-Env, value: prod}]}
    pool: app
    rewrite: {strip_prefix: /api, replace_prefix: /v2}
    request_headers: {set: {X-Route: api}, add: {X-Via: edgegate}, remove: [X-Debug]}
    response_headers: {set: {X-Frame-Options: DENY}, remove: [X-Origin]}
  - name: other
    pool: app
`, o.URL)
	tg := startGateway(t, src)
	req := mustReq(t, "GET", tg.url("/api/users/7?q=1"))
	req.Host = "shop.example.com"
	req.Header.Set("X-Env", "prod")
	req.Header.Set("X-Debug", "1")
	req.Header.Set("X-Via", "client")
	resp, e := getEcho(t, http.DefaultClient, req)
	if e.Path != "/v2/users/7" || e.Query != "q=1" || e.Host != "shop.example.com" {
		t.Errorf("origin saw %s?%s host %s", e.Path, e.Query, e.Host)
	}
	if e.Header.Get("X-Route") != "api" || e.Header.Get("X-Debug") != "" || strings.Join(e.Header["X-Via"], ",") != "client,edgegate" {
		t.Errorf("request headers at origin: %v", e.Header)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Origin") != "" {
		t.Errorf("response headers: %v", resp.Header)
	}
	// Without the header the route does not match; "other" serves it untouched.
	req = mustReq(t, "GET", tg.url("/api/users/7"))
	req.Host = "shop.example.com"
	_, e = getEcho(t, http.DefaultClient, req)
	if e.Path != "/api/users/7" {
		t.Errorf("fallback route: origin saw %s", e.Path)
	}
}

func TestSIGHUPReload(t *testing.T) {
	a, b := newEchoOrigin(t, "a"), newEchoOrigin(t, "b")
	tg := startGateway(t, basicConfig(a.URL, ""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	// A long debounce: only the signal may trigger this reload.
	go func() { _ = (&Reloader{Path: tg.file, Gateway: tg.g, Debounce: time.Hour}).Run(ctx, hup) }()
	if err := os.WriteFile(tg.file, []byte(basicConfig(b.URL, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, e := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/"))); e.Name != "a" {
		t.Fatalf("reloaded before the signal: %q", e.Name)
	}
	hup <- syscall.SIGHUP
	waitFor(t, func() bool {
		_, e := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/")))
		return e.Name == "b"
	})
}

// TestShutdownCutsLingeringWebSocket: an upgraded connection does not hold
// shutdown past its deadline.
func TestShutdownCutsLingeringWebSocket(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, _ = c.Read(context.Background()) // wait forever
	}))
	defer origin.Close()
	src := strings.Replace(basicConfig(origin.URL, ""), "shutdown: 5s", "shutdown: 300ms", 1)
	tg := startGateway(t, src)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+tg.addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	start := time.Now()
	tg.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v with a WebSocket open", d)
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Error("WebSocket still open after shutdown")
	}
}
