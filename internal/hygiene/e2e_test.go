package hygiene

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/httperr"
)

// seen is what the test origin recorded about one request.
type seen struct {
	Method     string
	RequestURI string
	Path       string
	Host       string
	Header     http.Header
	Body       string
}

// origin is a real HTTP server that records every request it gets. Like
// the lenient origins of security-tests.md §5.1 it answers any h2c upgrade
// with 101, and it echoes bytes after a WebSocket upgrade.
type origin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.reqs = append(o.reqs, seen{r.Method, r.RequestURI, r.URL.Path, r.Host, r.Header.Clone(), string(body)})
		o.mu.Unlock()
		up := strings.ToLower(r.Header.Get("Upgrade"))
		if strings.Contains(up, "h2c") || up == "websocket" {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + up + "\r\n\r\n")
			brw.Flush()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.Copy(c, brw) // echo
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) seen() []seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]seen(nil), o.reqs...)
}

type resultKey struct{}

// startGate runs a real http.Server on loopback whose handler does what the
// edge does: CheckFraming, Sanitize, then proxy to o with SetForwarded.
func startGate(t *testing.T, pol *Policy, o *origin, goOptions bool) string {
	t.Helper()
	target, err := url.Parse(o.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			res := pr.In.Context().Value(resultKey{}).(Result)
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			RemoveHopByHop(pr.Out.Header)
			// Forward any upgrade, as httputil.ReverseProxy does
			// (golang/go#80416): only Sanitize stands between a client
			// and an h2c tunnel here.
			if up := pr.In.Header.Get("Upgrade"); up != "" {
				pr.Out.Header.Set("Connection", "Upgrade")
				pr.Out.Header.Set("Upgrade", up)
			}
			pol.SetForwarded(pr.Out.Header, res, pr.In.Host)
			pr.Out.Header.Set("X-Test-Client-Ip", res.ClientIP.String())
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	render := func(w http.ResponseWriter, e *httperr.Error) {
		for k, v := range e.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(e.Status)
		io.WriteString(w, e.Code)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := pol.CheckFraming(r); e != nil {
			render(w, e)
			return
		}
		peer, _ := netip.ParseAddrPort(r.RemoteAddr)
		res, e := pol.Sanitize(r, peer, false)
		if e != nil {
			render(w, e)
			return
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), resultKey{}, res)))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:                      h,
		ConnContext:                  ConnContext,
		DisableGeneralOptionsHandler: !goOptions,
		ReadHeaderTimeout:            5 * time.Second,
		ErrorLog:                     log.New(io.Discard, "", 0),
	}
	go srv.Serve(GuardListener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

type reply struct {
	Status int
	Body   string
	Header http.Header
}

// exchange writes raw to a fresh connection and reads up to max responses.
// closed reports that the server closed the connection before max replies.
func exchange(t *testing.T, addr, raw string, max int) (replies []reply, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for len(replies) < max {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return replies, true
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		replies = append(replies, reply{resp.StatusCode, string(b), resp.Header})
	}
	return replies, false
}

// req builds a raw HTTP/1.1 request head.
func req(target string, headers ...string) string {
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: gw.test\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func TestE2EPathMatrix(t *testing.T) {
	o := newOrigin(t)
	addr := startGate(t, &Policy{MaxURIBytes: 256}, o, false)
	tests := []struct {
		name   string
		raw    string
		status int    // expected status
		code   string // hygiene code; "" when Go itself refuses or when accepted
		path   string // path the origin sees (decoded); "" when refused
		uri    string // raw target the origin sees, when it matters
	}{
		{"plain", req("/a/b?x=1"), 200, "", "/a/b", "/a/b?x=1"},
		{"dotdot raw CVE-2019-9901", req("/info/../private"), 200, "", "/private", "/private"},
		{"dot raw", req("/a/./b"), 200, "", "/a/b", "/a/b"},
		{"dotdot %2e lower", req("/a/%2e%2e/b"), 200, "", "/b", "/b"},
		{"dotdot %2E upper", req("/a/%2E%2E/b"), 200, "", "/b", "/b"},
		{"dotdot mixed", req("/a/.%2E/b"), 200, "", "/b", "/b"},
		{"dot %2e", req("/a/%2e/b"), 200, "", "/a/b", "/a/b"},
		{"trailing dot", req("/admin/."), 200, "", "/admin/", "/admin/"},
		{"trailing dotdot", req("/admin/x/.."), 200, "", "/admin/", "/admin/"},
		{"trailing slash kept", req("/admin/"), 200, "", "/admin/", "/admin/"},
		{"double slash", req("//admin"), 200, "", "/admin", "/admin"},
		{"triple slash", req("///admin//x/"), 200, "", "/admin/x/", "/admin/x/"},
		{"encoded question mark stays data", req("/a%3Fb"), 200, "", "/a?b", "/a%3Fb"},
		{"encoded hash stays data", req("/a%23b"), 200, "", "/a#b", "/a%23b"},
		{"query is not path CVE-2025-54576", req("/api/private?path=/status"), 200, "", "/api/private", "/api/private?path=/status"},
		{"encoded slash CVE-2021-29492", req("/something%2F..%2Fadmin"), 400, "hygiene.encoded_slash", "", ""},
		{"encoded slash lower", req("/admin%2f"), 400, "hygiene.encoded_slash", "", ""},
		{"encoded dotdot slash", req("/a/%2e%2e%2fadmin"), 400, "hygiene.encoded_slash", "", ""},
		{"encoded backslash", req("/a%5cadmin"), 400, "hygiene.encoded_backslash", "", ""},
		{"encoded NUL", req("/a%00b"), 400, "hygiene.encoded_nul", "", ""},
		{"encoded semicolon", req("/admin%3bx"), 400, "hygiene.encoded_semicolon", "", ""},
		{"encoded newline", req("/a%0ab"), 400, "hygiene.encoded_control", "", ""},
		{"raw backslash", req(`/a\..\admin`), 400, "hygiene.backslash", "", ""},
		{"params dotdot GHSA-77x5", req("/user/..;foo=bar/admin"), 400, "hygiene.param_segment", "", ""},
		{"params dot", req("/user/.;x/admin"), 400, "hygiene.param_segment", "", ""},
		{"params empty", req("/;x/admin"), 400, "hygiene.param_segment", "", ""},
		{"encoded params dotdot", req("/user/%2e%2e;x/admin"), 400, "hygiene.param_segment", "", ""},
		{"overlong dot", req("/%c0%ae%c0%ae/admin"), 400, "hygiene.bad_utf8", "", ""},
		{"overlong slash", req("/a%c0%afb"), 400, "hygiene.bad_utf8", "", ""},
		{"above root", req("/.."), 400, "hygiene.path_traversal", "", ""},
		{"above root later", req("/a/../../etc/passwd"), 400, "hygiene.path_traversal", "", ""},
		{"fragment CVE-2021-32779", req("/app1/admin#foo"), 400, "hygiene.fragment", "", ""},
		{"absolute-form", req("http://other/admin"), 400, "hygiene.absolute_form", "", ""},
		{"absolute-form opaque", req("http:admin"), 400, "hygiene.absolute_form", "", ""},
		{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: gw.test\r\n\r\n", 400, "hygiene.asterisk_form", "", ""},
		{"authority-form CONNECT", "CONNECT other:443 HTTP/1.1\r\nHost: other:443\r\n\r\n", 405, "hygiene.connect", "", ""},
		{"uri too long", req("/" + strings.Repeat("a", 300)), 414, "hygiene.uri_too_long", "", ""},
		{"bad percent (Go refuses)", req("/a%zz"), 400, "", "", ""},
		{"control char (Go refuses)", req("/a\x01b"), 400, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(o.seen())
			got, _ := exchange(t, addr, tt.raw, 1)
			if len(got) != 1 {
				t.Fatalf("got %d replies, want 1", len(got))
			}
			if got[0].Status != tt.status {
				t.Fatalf("status = %d (%q), want %d", got[0].Status, got[0].Body, tt.status)
			}
			if tt.code != "" && got[0].Body != tt.code {
				t.Errorf("code = %q, want %q", got[0].Body, tt.code)
			}
			after := o.seen()[before:]
			if tt.path == "" {
				if len(after) != 0 {
					t.Fatalf("origin saw %+v, want nothing", after)
				}
				return
			}
			if len(after) != 1 {
				t.Fatalf("origin saw %d requests, want 1", len(after))
			}
			if after[0].Path != tt.path || after[0].RequestURI != tt.uri {
				t.Errorf("origin saw path %q uri %q, want %q %q", after[0].Path, after[0].RequestURI, tt.path, tt.uri)
			}
		})
	}
}

func TestE2EHost(t *testing.T) {
	o := newOrigin(t)
	addr := startGate(t, &Policy{}, o, false)
	tests := []struct {
		name   string
		raw    string
		status int
		code   string
		host   string
	}{
		{"lower-cased", "GET / HTTP/1.1\r\nHost: GW.Example.COM:8080\r\n\r\n", 200, "", "gw.example.com:8080"},
		{"trailing dot", "GET / HTTP/1.1\r\nHost: gw.example.com.\r\n\r\n", 200, "", "gw.example.com"},
		{"ipv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200, "", "[::1]:8080"},
		{"empty label", "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400, "hygiene.host_invalid", ""},
		{"bad port", "GET / HTTP/1.1\r\nHost: a.b:99999\r\n\r\n", 400, "hygiene.host_invalid", ""},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 400, "hygiene.host_missing", ""},
		{"two Host headers (Go refuses)", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "", ""},
		{"absolute-form disagreeing with Host", "GET http://admin.internal/ HTTP/1.1\r\nHost: gw.test\r\n\r\n", 400, "hygiene.absolute_form", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(o.seen())
			got, _ := exchange(t, addr, tt.raw, 1)
			if len(got) != 1 || got[0].Status != tt.status {
				t.Fatalf("replies %+v, want status %d", got, tt.status)
			}
			if tt.code != "" && got[0].Body != tt.code {
				t.Errorf("code = %q, want %q", got[0].Body, tt.code)
			}
			after := o.seen()[before:]
			if tt.host == "" {
				if len(after) != 0 {
					t.Fatalf("origin saw %+v", after)
				}
				return
			}
			if len(after) != 1 || after[0].Host != tt.host {
				t.Fatalf("origin saw %+v, want Host %q", after, tt.host)
			}
		})
	}
}

func TestE2ESmuggling(t *testing.T) {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"
	post := func(headers, body string) string {
		return "POST /up HTTP/1.1\r\nHost: gw.test\r\n" + headers + "\r\n" + body
	}
	tests := []struct {
		name   string
		raw    string
		status int    // status of the first reply
		code   string // "" when Go itself refuses
		origin int    // requests the origin must see
	}{
		{"CL.TE", post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled), 400, "hygiene.cl_te", 0},
		{"TE.CL", post("Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "0\r\n\r\n"+smuggled), 400, "hygiene.cl_te", 0},
		{"TE leading space + CL", post("Transfer-Encoding:  chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n"), 400, "hygiene.cl_te", 0},
		{"TE tab + CL", post("Transfer-Encoding:\tchunked\r\nContent-Length: 3\r\n", "0\r\n\r\n"), 400, "hygiene.cl_te", 0},
		{"TE trailing space + CL", post("Transfer-Encoding: chunked \r\nContent-Length: 3\r\n", "0\r\n\r\n"), 400, "hygiene.cl_te", 0},
		{"TE upper-case + CL", post("Transfer-Encoding: CHUNKED\r\nContent-Length: 3\r\n", "0\r\n\r\n"), 400, "hygiene.cl_te", 0},
		{"TE obs-fold + CL", post("Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n"), 400, "hygiene.cl_te", 0},
		{"TE on HTTP/1.0 + CL", "POST /up HTTP/1.0\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400, "hygiene.cl_te", 0},
		{"lower-case names", post("transfer-encoding: chunked\r\ncontent-length: 3\r\n", "0\r\n\r\n"), 400, "hygiene.cl_te", 0},
		{"TE xchunked", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), 501, "", 0},
		{"TE chunked, identity", post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"), 501, "", 0},
		{"TE identity, chunked", post("Transfer-Encoding: identity, chunked\r\n", "0\r\n\r\n"), 501, "", 0},
		{"TE duplicate", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 501, "", 0},
		{"TE space before colon", post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400, "", 0},
		{"TE vertical tab", post("Transfer-Encoding: \vchunked\r\n", "0\r\n\r\n"), 400, "", 0},
		{"TE form feed", post("Transfer-Encoding: chunked\f\r\n", "0\r\n\r\n"), 400, "", 0},
		{"CL.CL differing", post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!"), 400, "", 0},
		{"CL list", post("Content-Length: 5, 6\r\n", "hello!"), 400, "", 0},
		{"CL empty", post("Content-Length:\r\n", ""), 400, "", 0},
		{"CL plus sign", post("Content-Length: +5\r\n", "hello"), 400, "", 0},
		{"CL non-digit", post("Content-Length: 5a\r\n", "hello"), 400, "", 0},
		{"CL too long for the scanner", post("Content-Length: "+strings.Repeat("0", 40)+"5\r\n", "hello"), 400, "hygiene.framing_oversize", 0},
		{"chunk size 0x prefix", post("Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n"+smuggled), 0, "", -1},
		{"chunk size negative", post("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n"+smuggled), 0, "", -1},
		{"chunk size oversized", post("Transfer-Encoding: chunked\r\n", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n"+smuggled), 0, "", -1},
		{"chunk bare LF", post("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n"+smuggled), 0, "", -1},
		{"chunk data without CRLF", post("Transfer-Encoding: chunked\r\n", "5\r\nhelloXX0\r\n\r\n"+smuggled), 0, "", -1},
		{"header NUL", post("X-A: a\x00b\r\nContent-Length: 0\r\n", ""), 400, "", 0},
		{"header CR", post("X-A: a\rb\r\nContent-Length: 0\r\n", ""), 400, "", 0},
		{"space in header name", post("X A: b\r\nContent-Length: 0\r\n", ""), 400, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh origin each: a refused body may still be arriving at
			// the origin when the client already has its error.
			o := newOrigin(t)
			addr := startGate(t, &Policy{}, o, false)
			before := len(o.seen())
			got, closed := exchange(t, addr, tt.raw, 2)
			if len(got) == 0 {
				t.Fatal("no reply")
			}
			if tt.status != 0 && got[0].Status != tt.status {
				t.Fatalf("status = %d (%q), want %d", got[0].Status, got[0].Body, tt.status)
			}
			if tt.status == 0 && got[0].Status < 400 {
				t.Fatalf("status = %d, want an error", got[0].Status)
			}
			if tt.code != "" && got[0].Body != tt.code {
				t.Errorf("code = %q, want %q", got[0].Body, tt.code)
			}
			if len(got) != 1 || !closed {
				t.Errorf("connection stayed open after refusal: %d replies, closed=%v", len(got), closed)
			}
			after := o.seen()[before:]
			for _, s := range after {
				if s.Path == "/smuggled" {
					t.Fatalf("origin saw the smuggled request")
				}
			}
			if tt.origin >= 0 && len(after) != tt.origin {
				t.Fatalf("origin saw %+v", after)
			}
		})
	}
}

func TestE2EValidBodies(t *testing.T) {
	o := newOrigin(t)
	addr := startGate(t, &Policy{}, o, false)
	tests := []struct {
		name string
		raw  string
		body string
	}{
		{"content-length", "POST /a HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello", "hello"},
		{"duplicate equal content-length", "POST /a HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "hello"},
		{"chunked with extension and trailer", "POST /a HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"3;ext=1\r\nhel\r\n2 \r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n", "hello"},
		{"chunked upper-case hex", "POST /a HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
		{"bare LF head", "POST /a HTTP/1.1\nHost: gw.test\nContent-Length: 2\n\nhi", "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(o.seen())
			got, _ := exchange(t, addr, tt.raw, 1)
			if len(got) != 1 || got[0].Status != 200 {
				t.Fatalf("replies %+v", got)
			}
			after := o.seen()[before:]
			if len(after) != 1 || after[0].Body != tt.body {
				t.Fatalf("origin saw %+v, want body %q", after, tt.body)
			}
		})
	}
}

func TestE2EPipelining(t *testing.T) {
	o := newOrigin(t)
	addr := startGate(t, &Policy{}, o, false)
	paths := func(ss []seen) []string {
		var p []string
		for _, s := range ss {
			p = append(p, s.Path)
		}
		return p
	}
	t.Run("three good requests in one write", func(t *testing.T) {
		before := len(o.seen())
		raw := "POST /1 HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 3\r\n\r\nabc" +
			"POST /2 HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
			"\r\n" + // net/http skips CR/LF after a POST; so must the guard
			"GET /3 HTTP/1.1\r\nHost: gw.test\r\n\r\n"
		got, _ := exchange(t, addr, raw, 3)
		if len(got) != 3 {
			t.Fatalf("got %d replies: %+v", len(got), got)
		}
		for i, r := range got {
			if r.Status != 200 {
				t.Errorf("reply %d: %d %q", i, r.Status, r.Body)
			}
		}
		if p := strings.Join(paths(o.seen()[before:]), " "); p != "/1 /2 /3" {
			t.Errorf("origin saw %q", p)
		}
	})
	t.Run("request after a refused one is never served", func(t *testing.T) {
		before := len(o.seen())
		raw := "POST /bad HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
			"GET /after HTTP/1.1\r\nHost: gw.test\r\n\r\n"
		got, closed := exchange(t, addr, raw, 2)
		if len(got) != 1 || got[0].Status != 400 || !closed {
			t.Fatalf("replies %+v closed=%v, want one 400 then close", got, closed)
		}
		if len(o.seen()) != before {
			t.Errorf("origin saw %v", paths(o.seen()[before:]))
		}
	})
	t.Run("request after a refused hygiene rule is never served", func(t *testing.T) {
		before := len(o.seen())
		raw := req("/a%2fb") + req("/after")
		got, closed := exchange(t, addr, raw, 2)
		if len(got) != 1 || got[0].Status != 400 || !closed {
			t.Fatalf("replies %+v closed=%v, want one 400 then close", got, closed)
		}
		if len(o.seen()) != before {
			t.Errorf("origin saw %v", paths(o.seen()[before:]))
		}
	})
	t.Run("folded Transfer-Encoding stops the guard for later requests", func(t *testing.T) {
		before := len(o.seen())
		raw := "POST /first HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" +
			"GET /second HTTP/1.1\r\nHost: gw.test\r\n\r\n"
		got, _ := exchange(t, addr, raw, 2)
		if len(got) != 2 || got[0].Status != 200 || got[1].Status != 400 || got[1].Body != "hygiene.framing_unknown" {
			t.Fatalf("replies %+v", got)
		}
		if p := strings.Join(paths(o.seen()[before:]), " "); p != "/first" {
			t.Errorf("origin saw %q", p)
		}
	})
}

func TestE2EOptionsStarAnsweredByNetHTTP(t *testing.T) {
	// With the general OPTIONS handler on, net/http answers "OPTIONS *"
	// without calling the handler; the next verdict must still match.
	o := newOrigin(t)
	addr := startGate(t, &Policy{}, o, true)
	raw := "OPTIONS * HTTP/1.1\r\nHost: gw.test\r\n\r\n" + req("/next")
	got, _ := exchange(t, addr, raw, 2)
	if len(got) != 2 || got[0].Status != 200 || got[1].Status != 200 {
		t.Fatalf("replies %+v", got)
	}
	if s := o.seen(); len(s) != 1 || s[0].Path != "/next" {
		t.Fatalf("origin saw %+v", s)
	}
}

func TestE2EHeaderSpoofing(t *testing.T) {
	spoofed := []string{
		"X-Forwarded-For: 6.6.6.6",
		"X-Forwarded-Host: evil.test",
		"X-Forwarded-Proto: https",
		"X-Forwarded-Port: 443",
		"X-Forwarded-Prefix: /admin",
		"X-Forwarded-Uri: /admin",
		"X-Forwarded-Server: evil",
		"X-Forwarded-Scheme: https",
		"Forwarded: for=6.6.6.6;host=evil.test;proto=https",
		"X-Real-IP: 6.6.6.6",
		"X-Original-URL: /admin",
		"X-Rewrite-URL: /admin",
		"X-HTTP-Method-Override: DELETE",
		"True-Client-IP: 6.6.6.6",
	}
	identity := []string{
		"X-Forwarded-User: admin",
		"x-forwarded-email: admin@example.com",
		"X-FORWARDED-GROUPS: admins",
		"x-FoRwArDeD-pReFeRrEd-UsErNaMe: admin",
		"X.Forwarded.Email: admin@example.com",
		"X-Forwarded.User: admin",
		"X-Auth-Request-User: admin",
		"X-Auth-Request-Access-Token: t",
		"Edgegate-Assertion: forged",
		"edgegate-identity: forged",
		"X-Edgegate-Route: forged",
		"X-Remote-User: admin",
		"X.Remote.User: admin",
		"X-Forwarded-User: second",
	}
	forbidden := []string{
		"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Uri", "X-Forwarded-Server", "X-Forwarded-Scheme",
		"X-Real-Ip", "X-Original-Url", "X-Rewrite-Url", "X-Http-Method-Override", "True-Client-Ip",
		"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
		"X.forwarded.email", "X-Forwarded.user", "X-Auth-Request-User", "X-Auth-Request-Access-Token",
		"Edgegate-Assertion", "Edgegate-Identity", "X-Edgegate-Route", "X-Remote-User", "X.remote.user",
	}
	lo := netip.MustParsePrefix("127.0.0.0/8")
	ten := netip.MustParsePrefix("10.0.0.0/8")
	tests := []struct {
		name    string
		trusted []netip.Prefix
		extra   []string
		wantXFF string
		wantIP  string
		proto   string
	}{
		{"untrusted peer", nil, nil, "127.0.0.1", "127.0.0.1", "http"},
		{"untrusted peer, client chain", nil, []string{"X-Forwarded-For: 203.0.113.9, 10.1.1.1"}, "127.0.0.1", "127.0.0.1", "http"},
		{"trusted peer keeps chain", []netip.Prefix{lo, ten}, nil, "6.6.6.6, 127.0.0.1", "6.6.6.6", "https"},
		{"trusted peer, right-most untrusted is the client", []netip.Prefix{lo, ten},
			[]string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.1.1.1"},
			"6.6.6.6, 198.51.100.1, 203.0.113.9, 10.1.1.1, 127.0.0.1", "203.0.113.9", "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t)
			addr := startGate(t, &Policy{TrustedProxies: tt.trusted, IdentityHeaders: []string{"X-Remote-User"}}, o, false)
			raw := req("/x", append(append(append([]string(nil), spoofed...), identity...), tt.extra...)...)
			got, _ := exchange(t, addr, raw, 1)
			if len(got) != 1 || got[0].Status != 200 {
				t.Fatalf("replies %+v", got)
			}
			s := o.seen()
			if len(s) != 1 {
				t.Fatalf("origin saw %d", len(s))
			}
			h := s[0].Header
			for _, k := range forbidden {
				if v, ok := h[k]; ok {
					t.Errorf("origin saw %s: %q", k, v)
				}
			}
			if got := strings.Join(h["X-Forwarded-For"], "|"); got != tt.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", got, tt.wantXFF)
			}
			if got := h.Get("X-Test-Client-Ip"); got != tt.wantIP {
				t.Errorf("client IP = %q, want %q", got, tt.wantIP)
			}
			if got := strings.Join(h["X-Forwarded-Proto"], "|"); got != tt.proto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", got, tt.proto)
			}
			if got := strings.Join(h["X-Forwarded-Host"], "|"); got != "gw.test" {
				t.Errorf("X-Forwarded-Host = %q", got)
			}
			if got := strings.Join(h["Forwarded"], "|"); strings.Contains(got, "evil") || !strings.HasSuffix(got, `for=127.0.0.1;host="gw.test";proto=`+tt.proto) {
				t.Errorf("Forwarded = %q", got)
			}
		})
	}
}

func TestE2EHeaderRefusals(t *testing.T) {
	o := newOrigin(t)
	addr := startGate(t, &Policy{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, o, false)
	tests := []struct {
		name   string
		header string
		code   string
	}{
		{"underscore identity", "X_Forwarded_Email: admin@example.com", "hygiene.header_underscore"},
		{"mixed underscore", "X-Forwarded_Email: admin@example.com", "hygiene.header_underscore"},
		{"underscore anything", "Foo_Bar: 1", "hygiene.header_underscore"},
		{"malformed XFF from trusted peer", "X-Forwarded-For: 1.2.3.4, not-an-ip", "hygiene.x_forwarded_for"},
		{"empty XFF entry from trusted peer", "X-Forwarded-For: 1.2.3.4,,5.6.7.8", "hygiene.x_forwarded_for"},
		{"XFF with zone from trusted peer", "X-Forwarded-For: fe80::1%eth0", "hygiene.x_forwarded_for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := exchange(t, addr, req("/x", tt.header), 1)
			if len(got) != 1 || got[0].Status != 400 || got[0].Body != tt.code {
				t.Fatalf("replies %+v, want 400 %s", got, tt.code)
			}
			if s := o.seen(); len(s) != 0 {
				t.Fatalf("origin saw %+v", s)
			}
		})
	}
	t.Run("invalid proto from trusted peer is replaced", func(t *testing.T) {
		got, _ := exchange(t, addr, req("/p", "X-Forwarded-Proto: javascript"), 1)
		if len(got) != 1 || got[0].Status != 200 {
			t.Fatalf("replies %+v", got)
		}
		s := o.seen()
		if len(s) != 1 || s[0].Header.Get("X-Forwarded-Proto") != "http" {
			t.Fatalf("origin saw %+v", s)
		}
	})
}

func TestE2EUpgrades(t *testing.T) {
	o := newOrigin(t)
	addr := startGate(t, &Policy{}, o, false)
	h2c := []struct {
		name    string
		headers []string
	}{
		{"canonical", []string{"Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA", "Connection: Upgrade, HTTP2-Settings"}},
		{"upper-case", []string{"Upgrade: H2C", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA", "Connection: HTTP2-Settings, Upgrade"}},
		{"in a list", []string{"Upgrade: foo, h2c", "Connection: Upgrade"}},
		{"without settings", []string{"Upgrade: h2c", "Connection: Upgrade"}},
		{"HTTP/2.0 token", []string{"Upgrade: HTTP/2.0", "Connection: Upgrade"}},
	}
	for _, tt := range h2c {
		t.Run("h2c "+tt.name, func(t *testing.T) {
			before := len(o.seen())
			got, _ := exchange(t, addr, req("/flag", tt.headers...), 1)
			if len(got) != 1 || got[0].Status == http.StatusSwitchingProtocols {
				t.Fatalf("replies %+v; the h2c tunnel must not open", got)
			}
			after := o.seen()[before:]
			if len(after) != 1 {
				t.Fatalf("origin saw %d requests", len(after))
			}
			for _, k := range []string{"Upgrade", "Http2-Settings"} {
				if v, ok := after[0].Header[k]; ok {
					t.Errorf("origin saw %s: %q", k, v)
				}
			}
			if c := after[0].Header.Get("Connection"); strings.Contains(strings.ToLower(c), "upgrade") || strings.Contains(strings.ToLower(c), "http2") {
				t.Errorf("origin saw Connection: %q", c)
			}
		})
	}
	t.Run("websocket keeps working", func(t *testing.T) {
		before := len(o.seen())
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req("/ws", "Upgrade: websocket", "Connection: Upgrade",
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		after := o.seen()[before:]
		if len(after) != 1 || after[0].Header.Get("Upgrade") != "websocket" {
			t.Fatalf("origin saw %+v", after)
		}
		// Bytes after the upgrade are not HTTP; the guard must pass them.
		io.WriteString(c, "\x81\x05hello GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
		buf := make([]byte, 7)
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "\x81\x05hello" {
			t.Fatalf("echo = %q, %v", buf, err)
		}
	})
}
