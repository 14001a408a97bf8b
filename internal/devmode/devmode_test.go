package devmode_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/devmode"
	"github.com/edgegate/edgegate/internal/route"
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
			if len(cfg.Pools) != 1 || len(cfg.Pools[0].Members) != 1 || cfg.Pools[0].Members[0].URL.Host != tc.a.Origin {
				t.Errorf("pools = %+v, want one member at %s", cfg.Pools, tc.a.Origin)
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
	a := devmode.Addrs{Gateway: "gw.test:1111", Admin: "adm.test:2222", Origin: "origin.test:3333", Provider: "idp.test:4444"}
	b := devmode.Banner(a)
	for _, want := range []string{
		"http://gw.test:1111/", "http://adm.test:2222/metrics", "http://adm.test:2222/readyz",
		"origin.test:3333", "/a/%2e%2e/etc/passwd", "/a%2fb",
		"http://idp.test:4444", "DEVELOPMENT ONLY", "http://gw.test:1111/app/", "edgegate token --user alice",
		"Authorization: Bearer $TOKEN", "/api/private/orders", "/.edgegate/whoami",
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
