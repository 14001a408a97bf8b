package devmode_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/devidp"
	"github.com/edgegate/edgegate/internal/devmode"
	"github.com/edgegate/edgegate/internal/gateway"
	"github.com/edgegate/edgegate/internal/route"
	"github.com/edgegate/edgegate/internal/testpeer"
)

func loadDev(t *testing.T, a devmode.Addrs) (*config.Config, *route.Table) {
	t.Helper()
	src := devmode.Config(a)
	cfg, err := config.LoadBytes("dev.yaml", src)
	if err != nil {
		t.Fatalf("the dev configuration does not load: %v\n%s", err, src)
	}
	tab, err := route.Compile(cfg.Routes, cfg.Positions)
	if err != nil {
		t.Fatalf("the dev routes do not compile: %v", err)
	}
	return cfg, tab
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    devmode.Addrs
	}{
		{"default", devmode.DefaultAddrs},
		{"other ports", devmode.Addrs{Gateway: "127.0.0.1:18080", Admin: "127.0.0.1:19901", Origin: "127.0.0.1:19000", Provider: "127.0.0.1:19400"}},
		{"IPv6 loopback", devmode.Addrs{Gateway: "[::1]:8080", Admin: "[::1]:9901", Origin: "[::1]:9000", Provider: "[::1]:9400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, tab := loadDev(t, tc.a)
			if len(cfg.Listeners) != 1 || cfg.Listeners[0].Address != tc.a.Gateway {
				t.Errorf("listeners = %+v, want one on %s", cfg.Listeners, tc.a.Gateway)
			}
			if cfg.Admin.Address != tc.a.Admin {
				t.Errorf("admin address = %q, want %q", cfg.Admin.Address, tc.a.Admin)
			}
			if len(cfg.Pools) != 2 || len(cfg.Pools[0].Members) != 1 || cfg.Pools[0].Members[0].URL.Host != tc.a.Origin ||
				cfg.Pools[1].Name != "dev-provider" || cfg.Pools[1].Members[0].URL.Host != tc.a.Provider {
				t.Errorf("pools = %+v, want demo (one member at %s) and dev-provider (%s)", cfg.Pools, tc.a.Origin, tc.a.Provider)
			}
			if b := cfg.Scripts.Bundle("dev"); b == nil || len(b.Versions) != 1 || b.Versions[0].Path != "embedded:dev" {
				t.Errorf("scripts = %+v, want the embedded dev bundle", cfg.Scripts)
			}
			if len(tab.Routes()) != len(cfg.Routes) || len(cfg.Routes) == 0 {
				t.Errorf("%d routes compiled of %d", len(tab.Routes()), len(cfg.Routes))
			}
		})
	}
}

func TestDefaultAddrsAreLoopback(t *testing.T) {
	a := devmode.DefaultAddrs
	for _, s := range []string{a.Gateway, a.Admin, a.Origin, a.Provider} {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().IsLoopback() {
			t.Errorf("%q is not a loopback address (%v)", s, err)
		}
	}
}

// TestBannerExamples checks that what the banner tells a newcomer to try
// is what the dev configuration does.
func TestBannerExamples(t *testing.T) {
	_, tab := loadDev(t, devmode.DefaultAddrs)
	match := func(path string) *route.Route {
		t.Helper()
		rt := tab.Match(&route.Request{Host: "localhost", Path: path, Method: http.MethodGet, Header: http.Header{}})
		if rt == nil {
			t.Fatalf("%s: no route", path)
		}
		return rt
	}
	if rt := match("/hello"); rt.Name() != "site" {
		t.Errorf("/hello: route %q, want site", rt.Name())
	}
	if rt := match("/app/"); rt.Name() != "app" || rt.Config.Auth.Mode != "session" {
		t.Errorf("/app/: route %q auth %q, want app with session", rt.Name(), rt.Config.Auth.Mode)
	}
	if rt := match("/api/private/orders"); rt.Name() != "private-api" || rt.Config.Auth.Mode != "bearer_or_session" || rt.RewritePath("/api/private/orders") != "/v1/private/orders" {
		t.Errorf("/api/private/orders: route %q auth %q", rt.Name(), rt.Config.Auth.Mode)
	}
	if rt := match("/api/users"); rt.Name() != "api" || rt.RewritePath("/api/users") != "/v1/users" {
		t.Errorf("/api/users: route %q rewritten to %q, want api and /v1/users", rt.Name(), rt.RewritePath("/api/users"))
	}
	rt := match("/old-docs/intro")
	loc, status, ok := rt.Redirect("/old-docs/intro", "x=1")
	if rt.Name() != "docs-moved" || !ok || status != http.StatusMovedPermanently || loc != "/docs?x=1" {
		t.Errorf("/old-docs/intro?x=1: route %q redirect %v %d %q, want docs-moved 301 /docs?x=1", rt.Name(), ok, status, loc)
	}
}

func TestBanner(t *testing.T) {
	a := devmode.Addrs{Gateway: "gw.test:1111", Admin: "adm.test:2222", Origin: "origin.test:3333", Provider: "idp.test:4444", AuditDir: "/var/tmp/dev-audit"}
	b := devmode.Banner(a)
	for _, want := range []string{
		"http://gw.test:1111/", "http://adm.test:2222/metrics", "http://adm.test:2222/readyz",
		"origin.test:3333", "/a/%2e%2e/etc/passwd", "/a%2fb",
		"http://idp.test:4444", "DEVELOPMENT ONLY", "http://gw.test:1111/app/", "edgegate token --user alice",
		"Authorization: Bearer $TOKEN", "/api/private/orders", "/.edgegate/whoami",
		"http://gw.test:1111/ew/jwt/orders", "http://gw.test:1111/ew/promo", "http://gw.test:1111/ew/ab/", "-b ab=b",
		"worker test embedded:dev", "Pragma: akamai-x-ew-debug", devmode.DebugTokenEnv,
		"audit verify --jwks http://gw.test:1111/.well-known/edgegate/jwks.json /var/tmp/dev-audit",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	for _, bad := range []string{"%!", "127.0.0.1"} {
		if strings.Contains(b, bad) {
			t.Errorf("banner contains %q:\n%s", bad, b)
		}
	}
}

func get(t *testing.T, url string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vv := range hdr {
		req.Header[k] = vv
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestOriginEcho(t *testing.T) {
	srv := httptest.NewServer(devmode.Origin())
	defer srv.Close()

	t.Run("json", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/users/7?id=7&x=%3Cy%3E", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Add("X-Test", "one")
		req.Header.Add("X-Test", "two")
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var got devmode.Request
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		want := devmode.Request{
			Origin: "edgegate demo origin", Method: http.MethodPost, Host: strings.TrimPrefix(srv.URL, "http://"),
			Path: "/v1/users/7", Query: "id=7&x=%3Cy%3E", Proto: "HTTP/1.1",
		}
		if got.Origin != want.Origin || got.Method != want.Method || got.Host != want.Host ||
			got.Path != want.Path || got.Query != want.Query || got.Proto != want.Proto {
			t.Errorf("echo = %+v, want %+v", got, want)
		}
		if got.Headers["X-Test"] != "one, two" || got.Headers["X-Forwarded-For"] != "203.0.113.9" {
			t.Errorf("headers = %v", got.Headers)
		}
	})

	t.Run("html escapes hostile values", func(t *testing.T) {
		hostile := `<script>alert("x")</script>`
		resp, body := get(t, srv.URL+"/%3Cscript%3Ealert(1)%3C/script%3E?q=%22%3E%3Cimg", http.Header{
			"Accept":  {"text/html,application/xhtml+xml"},
			"X-Evil":  {hostile},
			"X-Plain": {"visible-value"},
		})
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q", ct)
		}
		for _, raw := range []string{"<script", "<img", `">`} {
			if strings.Contains(body, raw) {
				t.Errorf("page contains unescaped %q:\n%s", raw, body)
			}
		}
		for _, want := range []string{"X-Evil", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "visible-value", "&lt;script&gt;alert(1)"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		}
		// Header names come out sorted, so the page is stable.
		if i, j := strings.Index(body, "X-Evil"), strings.Index(body, "X-Plain"); i < 0 || j < i {
			t.Errorf("headers not sorted by name")
		}
	})

	t.Run("healthz", func(t *testing.T) {
		resp, body := get(t, srv.URL+"/healthz", nil)
		if resp.StatusCode != http.StatusOK || body != "ok\n" {
			t.Errorf("/healthz = %d %q", resp.StatusCode, body)
		}
	})
}

// stepFlusher lets the test hold the handler after each flush, so the test
// can prove each event reached the client while the stream was still open.
// When the test gives up, the request's context ends and the handler is let
// go, so the server can close.
type stepFlusher struct {
	http.ResponseWriter
	ctx     context.Context
	flushed chan struct{}
	proceed chan struct{}
}

func (s *stepFlusher) Flush() {
	s.ResponseWriter.(http.Flusher).Flush()
	select {
	case s.flushed <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	select {
	case <-s.proceed:
	case <-s.ctx.Done():
	}
}

func TestOriginEvents(t *testing.T) {
	t.Parallel()
	flushed, proceed := make(chan struct{}), make(chan struct{})
	origin := devmode.Origin()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin.ServeHTTP(&stepFlusher{ResponseWriter: w, ctx: r.Context(), flushed: flushed, proceed: proceed}, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for i := 1; i <= 5; i++ {
		select {
		case <-flushed:
		case <-ctx.Done():
			t.Fatalf("event %d never flushed", i)
		}
		// The handler is parked in Flush: this event must already be
		// readable, so the stream is not buffered to the end.
		data, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf("data: tick %d at ", i); !strings.HasPrefix(data, want) {
			t.Errorf("event %d = %q, want prefix %q", i, data, want)
		} else if _, err := time.Parse(time.RFC3339, strings.TrimSpace(strings.TrimPrefix(data, want))); err != nil {
			t.Errorf("event %d time: %v", i, err)
		}
		if blank, err := br.ReadString('\n'); err != nil || blank != "\n" {
			t.Errorf("event %d not terminated by a blank line: %q %v", i, blank, err)
		}
		proceed <- struct{}{}
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after 5 events: %q %v, want the end of the stream", rest, err)
	}
}

func TestOriginWebSocket(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(devmode.Origin())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, tc := range []struct {
		typ websocket.MessageType
		msg string
	}{
		{websocket.MessageText, "hello"},
		{websocket.MessageBinary, "\x00\xffbin"},
		{websocket.MessageText, ""},
	} {
		if err := c.Write(ctx, tc.typ, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != tc.typ || string(got) != "echo: "+tc.msg {
			t.Errorf("echo of %q: got %v %q", tc.msg, typ, got)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestServeOrigin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- devmode.ServeOrigin(ctx, ln, devmode.Origin()) }()
	resp, body := get(t, "http://"+ln.Addr().String()+"/healthz", nil)
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("ServeOrigin after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeOrigin did not return after its context was cancelled")
	}
}

// freeAddr reserves a loopback port and releases it for the caller.
// freeAddr is a loopback address for a server told its address before it
// binds (see testpeer.FreeAddr for why not port 0).
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testpeer.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestDevEdgeWorkers starts a real dev instance on loopback (demo origin,
// dev provider, gateway with the built-in configuration) and follows the
// banner's EdgeWorkers lines: the JWT check with a dev token and without,
// the redirect, and the A/B cookie set and honoured.
func TestDevEdgeWorkers(t *testing.T) {
	a := devmode.Addrs{Gateway: freeAddr(t), Admin: freeAddr(t), Origin: freeAddr(t), Provider: freeAddr(t)}
	t.Setenv(devmode.DebugTokenEnv, "dev-trace")
	cfg, err := config.LoadBytes("(edgegate dev)", devmode.Config(a))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	originLn, err := net.Listen("tcp", a.Origin)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = devmode.ServeOrigin(ctx, originLn, devmode.Origin()) }()
	idpLn, err := net.Listen("tcp", cfg.DevProvider.Address)
	if err != nil {
		t.Fatal(err)
	}
	p, err := devidp.New(cfg.DevProvider, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ctx, idpLn) }()
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ready, served := make(chan struct{}), make(chan error, 1)
	go func() { served <- g.Serve(ctx, func(gateway.Listening) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-served:
		t.Fatalf("gateway: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the dev gateway did not start")
	}
	base := "http://" + a.Gateway
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
	do := func(t *testing.T, path string, hdr http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = hdr
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	echo := func(t *testing.T, body string) devmode.Request {
		t.Helper()
		var e devmode.Request
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("not the origin's echo: %v: %s", err, body)
		}
		return e
	}

	t.Run("jwt", func(t *testing.T) {
		resp, body := do(t, "/ew/jwt/orders", nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "no bearer token") {
			t.Errorf("without a token: %d %s", resp.StatusCode, body)
		}
		tok, err := p.Mint("alice", "", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// The first verification fetches the provider's JWKS with a
		// sub-request; the debug headers (with the debug token) show it.
		resp, body = do(t, "/ew/jwt/orders", http.Header{"Authorization": {"Bearer " + tok}, "Pragma": {"akamai-x-ew-debug"}, "Akamai-Ew-Trace": {"dev-trace"}})
		if info := resp.Header.Get("X-Akamai-EdgeWorker-onClientRequest-Info"); !strings.Contains(info, "ew=dev v1.0:dev; status=Success") {
			t.Errorf("debug info %q", info)
		}
		if subs := resp.Header.Get("X-Akamai-Edgeworker-Subrequests"); !strings.Contains(subs, "/ew/keys") || !strings.Contains(subs, "rsp=200") {
			t.Errorf("sub-requests %q, want the JWKS fetch", subs)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("with a dev token: %d %s", resp.StatusCode, body)
		}
		if e := echo(t, body); e.Headers["X-Jwt-Sub"] != "alice" || e.Headers["X-Jwt-Email"] != "alice@example.com" || e.Path != "/ew/jwt/orders" {
			t.Errorf("the origin saw %+v", e)
		}
		// A token for another audience, and a tampered one, are refused.
		other, err := p.Mint("alice", "someone-else", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok, ".")
		tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		for _, bad := range []struct{ tok, why string }{{other, "wrong audience"}, {tampered, "bad signature"}, {"x.y", "malformed"}} {
			if resp, body := do(t, "/ew/jwt/orders", http.Header{"Authorization": {"Bearer " + bad.tok}}); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, bad.why) {
				t.Errorf("%s: %d %s", bad.why, resp.StatusCode, body)
			}
		}
		// Without the debug token the same request reveals nothing.
		resp, _ = do(t, "/ew/jwt/orders", http.Header{"Authorization": {"Bearer " + tok}, "Pragma": {"akamai-x-ew-debug"}, "Akamai-Ew-Trace": {"wrong"}})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Akamai-EdgeWorker-onClientRequest-Info") != "" {
			t.Errorf("wrong debug token: %d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		resp, _ := do(t, "/ew/promo", nil)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ew/ab/?from=promo" {
			t.Errorf("/ew/promo: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("ab", func(t *testing.T) {
		resp, body := do(t, "/ew/ab/?x=1", nil)
		bucket := resp.Header.Get("X-Ab")
		if resp.StatusCode != http.StatusOK || (bucket != "a" && bucket != "b") {
			t.Fatalf("/ew/ab/: %d X-AB %q", resp.StatusCode, bucket)
		}
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "ab" {
				cookie = c
			}
		}
		if cookie == nil || cookie.Value != bucket || cookie.Path != "/ew/" {
			t.Fatalf("Set-Cookie %q, want ab=%s; Path=/ew/", resp.Header.Values("Set-Cookie"), bucket)
		}
		if e := echo(t, body); e.Query != "x=1&variant="+bucket {
			t.Errorf("the origin saw query %q, want x=1&variant=%s", e.Query, bucket)
		}
		for _, b := range []string{"a", "b"} {
			resp, body := do(t, "/ew/ab/", http.Header{"Cookie": {"ab=" + b}})
			if resp.Header.Get("X-Ab") != b || len(resp.Header.Values("Set-Cookie")) != 0 || echo(t, body).Query != "variant="+b {
				t.Errorf("cookie ab=%s: X-AB %q Set-Cookie %q query %q", b, resp.Header.Get("X-Ab"), resp.Header.Values("Set-Cookie"), echo(t, body).Query)
			}
		}
	})
	cancel()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Error("the gateway did not stop")
	}
}
