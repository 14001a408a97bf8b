package hygiene

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	untrustedPeer = netip.MustParseAddrPort("192.0.2.10:5555")
	trustedPeer   = netip.MustParseAddrPort("10.0.0.7:5555")
)

// parseRaw parses an HTTP/1 request the way net/http's server does.
func parseRaw(t testing.TB, raw string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("ReadRequest(%q): %v", raw, err)
	}
	delete(r.Header, "Host") // the server does this after reading
	return r
}

// h2Request builds a request as net/http's HTTP/2 server would hand it over:
// RequestURI is :path, Host is :authority.
func h2Request(t testing.TB, path, authority string, h http.Header) *http.Request {
	t.Helper()
	u, err := url.ParseRequestURI(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	if h == nil {
		h = http.Header{}
	}
	return &http.Request{
		Method: "GET", URL: u, RequestURI: path, Proto: "HTTP/2.0", ProtoMajor: 2,
		Header: h, Host: authority,
	}
}

func TestSanitizeRefusals(t *testing.T) {
	pol := &Policy{MaxURIBytes: 64, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		peer   netip.AddrPort
		status int
		code   string
	}{
		{"empty target", func(t *testing.T) *http.Request {
			r := parseRaw(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			r.RequestURI = ""
			return r
		}, untrustedPeer, 400, "hygiene.target_form"},
		{"relative target", func(t *testing.T) *http.Request {
			r := parseRaw(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			r.RequestURI = "a/b"
			return r
		}, untrustedPeer, 400, "hygiene.target_form"},
		{"authority-form GET", func(t *testing.T) *http.Request {
			return parseRaw(t, "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n")
		}, untrustedPeer, 400, "hygiene.absolute_form"},
		{"uri too long", func(t *testing.T) *http.Request {
			return parseRaw(t, "GET /"+strings.Repeat("x", 64)+" HTTP/1.1\r\nHost: a\r\n\r\n")
		}, untrustedPeer, 414, "hygiene.uri_too_long"},
		{"CONNECT", func(t *testing.T) *http.Request {
			return parseRaw(t, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
		}, untrustedPeer, 405, "hygiene.connect"},
		{"h2 space in path", func(t *testing.T) *http.Request { return h2Request(t, "/a b", "a", nil) }, untrustedPeer, 400, "hygiene.path_char"},
		{"h2 bad percent", func(t *testing.T) *http.Request { return h2Request(t, "/a%zz", "a", nil) }, untrustedPeer, 400, "hygiene.bad_percent"},
		{"h2 space in query", func(t *testing.T) *http.Request { return h2Request(t, "/a?x y", "a", nil) }, untrustedPeer, 400, "hygiene.query_char"},
		{"h2 control in query", func(t *testing.T) *http.Request { return h2Request(t, "/a?x\x01", "a", nil) }, untrustedPeer, 400, "hygiene.query_char"},
		{"h2 asterisk", func(t *testing.T) *http.Request { return h2Request(t, "*", "a", nil) }, untrustedPeer, 400, "hygiene.asterisk_form"},
		{"h2 fragment in query", func(t *testing.T) *http.Request { return h2Request(t, "/a?b#c", "a", nil) }, untrustedPeer, 400, "hygiene.fragment"},
		{"h2 missing authority", func(t *testing.T) *http.Request { return h2Request(t, "/", "", nil) }, untrustedPeer, 400, "hygiene.host_missing"},
		{"h2 Host disagrees with :authority", func(t *testing.T) *http.Request {
			return h2Request(t, "/", "public.example", http.Header{"Host": {"admin.internal"}})
		}, untrustedPeer, 400, "hygiene.host_mismatch"},
		{"h2 two Host headers", func(t *testing.T) *http.Request {
			return h2Request(t, "/", "a", http.Header{"Host": {"a", "a"}})
		}, untrustedPeer, 400, "hygiene.host_multiple"},
		{"host with zone", func(t *testing.T) *http.Request { return h2Request(t, "/", "[fe80::1%25eth0]", nil) }, untrustedPeer, 400, "hygiene.host_invalid"},
		{"host with space", func(t *testing.T) *http.Request { return h2Request(t, "/", "a b", nil) }, untrustedPeer, 400, "hygiene.host_invalid"},
		{"host with userinfo", func(t *testing.T) *http.Request { return h2Request(t, "/", "user@a", nil) }, untrustedPeer, 400, "hygiene.host_invalid"},
		{"header value CRLF", func(t *testing.T) *http.Request {
			return h2Request(t, "/", "a", http.Header{"X-A": {"a\r\nX-Injected: 1"}})
		}, untrustedPeer, 400, "hygiene.header_value"},
		{"header value NUL", func(t *testing.T) *http.Request {
			return h2Request(t, "/", "a", http.Header{"X-A": {"a\x00"}})
		}, untrustedPeer, 400, "hygiene.header_value"},
		{"header name with space", func(t *testing.T) *http.Request {
			return h2Request(t, "/", "a", http.Header{"X A": {"1"}})
		}, untrustedPeer, 400, "hygiene.header_name"},
		{"header name with colon", func(t *testing.T) *http.Request {
			return h2Request(t, "/", "a", http.Header{"X:A": {"1"}})
		}, untrustedPeer, 400, "hygiene.header_name"},
		{"header underscore", func(t *testing.T) *http.Request {
			return parseRaw(t, "GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_Email: a@b\r\n\r\n")
		}, untrustedPeer, 400, "hygiene.header_underscore"},
		{"CL and TE both visible", func(t *testing.T) *http.Request {
			return h2Request(t, "/", "a", http.Header{"Content-Length": {"3"}, "Transfer-Encoding": {"chunked"}})
		}, untrustedPeer, 400, "hygiene.cl_te"},
		{"CL with parsed TE", func(t *testing.T) *http.Request {
			r := parseRaw(t, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
			r.TransferEncoding = []string{"chunked"}
			return r
		}, untrustedPeer, 400, "hygiene.cl_te"},
		{"malformed XFF from trusted", func(t *testing.T) *http.Request {
			return parseRaw(t, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4:x\r\n\r\n")
		}, trustedPeer, 400, "hygiene.x_forwarded_for"},
		{"empty XFF from trusted", func(t *testing.T) *http.Request {
			return parseRaw(t, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\n\r\n")
		}, trustedPeer, 400, "hygiene.x_forwarded_for"},
		{"XFF trailing comma from trusted", func(t *testing.T) *http.Request {
			return parseRaw(t, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4,\r\n\r\n")
		}, trustedPeer, 400, "hygiene.x_forwarded_for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req(t)
			_, e := pol.Sanitize(r, tt.peer, false)
			if e == nil {
				t.Fatalf("accepted, want %s", tt.code)
			}
			if e.Status != tt.status || e.Code != tt.code {
				t.Fatalf("got %d %s, want %d %s", e.Status, e.Code, tt.status, tt.code)
			}
			if e.Public == "" || strings.Contains(e.Public, "\n") {
				t.Errorf("public message %q", e.Public)
			}
			wantClose := r.ProtoMajor == 1
			if got := e.Header.Get("Connection") == "close"; got != wantClose {
				t.Errorf("Connection: close = %v, want %v", got, wantClose)
			}
		})
	}
}

func TestSanitizeAccepts(t *testing.T) {
	lo := netip.MustParsePrefix("10.0.0.0/8")
	tests := []struct {
		name    string
		pol     Policy
		raw     string
		peer    netip.AddrPort
		tls     bool
		want    Result
		header  http.Header // exact header set afterwards
		urlPath string
	}{
		{
			name: "typical",
			raw:  "GET /api/v1/users?id=7 HTTP/1.1\r\nHost: API.Example.com:8443\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
			peer: untrustedPeer,
			want: Result{ClientIP: untrustedPeer.Addr(), Host: "api.example.com", Path: "/api/v1/users", Scheme: "http",
				Peer: untrustedPeer.Addr()},
			header:  http.Header{"Accept": {"*/*"}, "User-Agent": {"t"}},
			urlPath: "/api/v1/users",
		},
		{
			name: "tls and normalized path",
			raw:  "GET /a/./b/../c%20d/ HTTP/1.1\r\nHost: a.example.\r\n\r\n",
			peer: untrustedPeer, tls: true,
			want: Result{ClientIP: untrustedPeer.Addr(), Host: "a.example", Path: "/a/c d/", Scheme: "https",
				Peer: untrustedPeer.Addr()},
			header:  http.Header{},
			urlPath: "/a/c d/",
		},
		{
			name: "untrusted forwarded and identity headers removed",
			pol:  Policy{IdentityHeaders: []string{"X-Remote-User"}},
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n" +
				"X-Forwarded-Host: evil\r\nForwarded: for=6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\nX.Forwarded.Email: x\r\n" +
				"x-remote-user: x\r\nX.Remote.User: y\r\nX-Edgegate-Anything: z\r\nEdgegate-Assertion: z\r\n" +
				"X-Auth-Request-Email: z\r\nX-Forwarded-Anything-New: z\r\nX-Keep: 1\r\n\r\n",
			peer:    untrustedPeer,
			want:    Result{ClientIP: untrustedPeer.Addr(), Host: "a", Path: "/", Scheme: "http", Peer: untrustedPeer.Addr()},
			header:  http.Header{"X-Keep": {"1"}},
			urlPath: "/",
		},
		{
			name: "trusted peer: chain and proto kept, the rest removed",
			pol:  Policy{TrustedProxies: []netip.Prefix{lo}},
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.5, [2001:db8::1]:443\r\n" +
				"X-Forwarded-For: 10.1.1.1:80\r\nX-Forwarded-Proto: HTTPS\r\nX-Forwarded-Host: evil\r\n" +
				"X-Forwarded-Port: 443\r\nX-Forwarded-User: admin\r\n\r\n",
			peer: trustedPeer,
			want: Result{ClientIP: netip.MustParseAddr("2001:db8::1"), Host: "a", Path: "/", Scheme: "https",
				Peer: trustedPeer.Addr(), Trusted: true, ForwardedFor: "203.0.113.5, [2001:db8::1]:443, 10.1.1.1:80"},
			header: http.Header{
				"X-Forwarded-For":   {"203.0.113.5, [2001:db8::1]:443", "10.1.1.1:80"},
				"X-Forwarded-Proto": {"HTTPS"},
			},
			urlPath: "/",
		},
		{
			name: "trusted peer, all hops trusted: left-most is the client",
			pol:  Policy{TrustedProxies: []netip.Prefix{lo}},
			raw:  "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.9.9.9, 10.8.8.8\r\nX-Forwarded-Proto: gopher\r\n\r\n",
			peer: trustedPeer,
			want: Result{ClientIP: netip.MustParseAddr("10.9.9.9"), Host: "a", Path: "/", Scheme: "http",
				Peer: trustedPeer.Addr(), Trusted: true, ForwardedFor: "10.9.9.9, 10.8.8.8"},
			header:  http.Header{"X-Forwarded-For": {"10.9.9.9, 10.8.8.8"}},
			urlPath: "/",
		},
		{
			name:    "4in6 peer is unmapped before the trust check",
			pol:     Policy{TrustedProxies: []netip.Prefix{lo}},
			raw:     "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			peer:    netip.MustParseAddrPort("[::ffff:10.0.0.7]:1"),
			want:    Result{ClientIP: trustedPeer.Addr(), Host: "a", Path: "/", Scheme: "http", Peer: trustedPeer.Addr(), Trusted: true},
			header:  http.Header{},
			urlPath: "/",
		},
		{
			name: "h2c upgrade removed, other Connection tokens kept",
			raw: "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n" +
				"Connection: keep-alive, Upgrade, HTTP2-Settings, h2c, X-Forwarded-For, X-Edgegate-Identity, X-Custom\r\n\r\n",
			peer:    untrustedPeer,
			want:    Result{ClientIP: untrustedPeer.Addr(), Host: "a", Path: "/", Scheme: "http", Peer: untrustedPeer.Addr()},
			header:  http.Header{"Connection": {"keep-alive, X-Custom"}},
			urlPath: "/",
		},
		{
			name: "websocket upgrade intact",
			raw: "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Version: 13\r\n\r\n",
			peer:    untrustedPeer,
			want:    Result{ClientIP: untrustedPeer.Addr(), Host: "a", Path: "/ws", Scheme: "http", Peer: untrustedPeer.Addr()},
			header:  http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}},
			urlPath: "/ws",
		},
		{
			name:    "Connection naming only owned headers is dropped",
			raw:     "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Forwarded-User\r\n\r\n",
			peer:    untrustedPeer,
			want:    Result{ClientIP: untrustedPeer.Addr(), Host: "a", Path: "/", Scheme: "http", Peer: untrustedPeer.Addr()},
			header:  http.Header{},
			urlPath: "/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseRaw(t, tt.raw)
			got, e := tt.pol.Sanitize(r, tt.peer, tt.tls)
			if e != nil {
				t.Fatalf("refused: %v", e)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.header, r.Header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if r.URL.Path != tt.urlPath || r.URL.RawPath != "" {
				t.Errorf("URL.Path %q RawPath %q, want %q and empty", r.URL.Path, r.URL.RawPath, tt.urlPath)
			}
		})
	}
}

func TestSanitizeDropsURLAuthority(t *testing.T) {
	r := h2Request(t, "/x/../y?q=1", "a", nil)
	r.URL.Scheme, r.URL.Host, r.URL.User = "http", "evil.example", url.User("u")
	if _, e := (&Policy{}).Sanitize(r, untrustedPeer, false); e != nil {
		t.Fatal(e)
	}
	if got := r.URL.String(); got != "/y?q=1" {
		t.Fatalf("URL = %q, want /y?q=1", got)
	}
}

func TestSanitizeH2HostHeaderAgreeing(t *testing.T) {
	r := h2Request(t, "/x", "A.example", http.Header{"Host": {"a.EXAMPLE"}})
	res, e := (&Policy{}).Sanitize(r, untrustedPeer, true)
	if e != nil {
		t.Fatal(e)
	}
	if res.Host != "a.example" || r.Host != "a.example" || r.Header["Host"] != nil {
		t.Fatalf("Host %q r.Host %q header %v", res.Host, r.Host, r.Header["Host"])
	}
}

func TestSanitizeNoAllocs(t *testing.T) {
	pol := &Policy{MaxURIBytes: 8192, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		IdentityHeaders: []string{"X-Remote-User"}}
	r := typicalRequest(t)
	if n := testing.AllocsPerRun(200, func() {
		if _, e := pol.Sanitize(r, untrustedPeer, false); e != nil {
			t.Fatal(e)
		}
	}); n != 0 {
		t.Errorf("Sanitize: %v allocs per typical request, want 0", n)
	}
}

func typicalRequest(t testing.TB) *http.Request {
	return parseRaw(t, "GET /api/v1/users/42/profile?fields=name,email&limit=10 HTTP/1.1\r\n"+
		"Host: api.example.com\r\n"+
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n"+
		"Accept: application/json\r\n"+
		"Accept-Encoding: gzip, deflate, br\r\n"+
		"Accept-Language: en-US,en;q=0.9\r\n"+
		"Authorization: Bearer abc.def.ghi\r\n"+
		"Cookie: session=xyz; theme=dark\r\n"+
		"Referer: https://app.example.com/\r\n"+
		"Sec-Fetch-Mode: cors\r\n"+
		"Connection: keep-alive\r\n\r\n")
}

func TestCleanHost(t *testing.T) {
	tests := []struct {
		in, name, hostport, code string
	}{
		{"a", "a", "a", ""},
		{"Example.COM", "example.com", "example.com", ""},
		{"example.com:8080", "example.com", "example.com:8080", ""},
		{"Example.com.:8080", "example.com", "example.com:8080", ""},
		{"example.com.", "example.com", "example.com", ""},
		{"svc_name.local", "svc_name.local", "svc_name.local", ""},
		{"192.0.2.1:80", "192.0.2.1", "192.0.2.1:80", ""},
		{"[::1]", "::1", "[::1]", ""},
		{"[2001:DB8::1]:443", "2001:db8::1", "[2001:db8::1]:443", ""},
		{"", "", "", "hygiene.host_missing"},
		{"a..b", "", "", "hygiene.host_invalid"},
		{".a", "", "", "hygiene.host_invalid"},
		{"a.b..", "", "", "hygiene.host_invalid"},
		{"a:", "", "", "hygiene.host_invalid"},
		{"a:65536", "", "", "hygiene.host_invalid"},
		{"a:1:2", "", "", "hygiene.host_invalid"},
		{"a:+1", "", "", "hygiene.host_invalid"},
		{"::1", "", "", "hygiene.host_invalid"},
		{"[1.2.3.4]", "", "", "hygiene.host_invalid"},
		{"[::1", "", "", "hygiene.host_invalid"},
		{"[::1]x", "", "", "hygiene.host_invalid"},
		{"[fe80::1%eth0]", "", "", "hygiene.host_invalid"},
		{"a/b", "", "", "hygiene.host_invalid"},
		{"a@b", "", "", "hygiene.host_invalid"},
		{"a\r\nb", "", "", "hygiene.host_invalid"},
		{strings.Repeat("a", 64) + ".com", "", "", "hygiene.host_invalid"},
		{strings.Repeat("a.", 130) + "com", "", "", "hygiene.host_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			name, hp, ru := cleanHost(tt.in)
			if ru.Code() != tt.code || name != tt.name || hp != tt.hostport {
				t.Errorf("cleanHost(%q) = %q, %q, %q; want %q, %q, %q", tt.in, name, hp, ru.Code(), tt.name, tt.hostport, tt.code)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	pol := &Policy{IdentityHeaders: []string{"X-Remote-User", "X-Very-Long-Custom-Identity-Header-Name-For-Tests", "My_Custom.Assertion"}}
	tests := []struct {
		name string
		want class
	}{
		{"X-Forwarded-User", classIdentity},
		{"x-forwarded-email", classIdentity},
		{"X.Forwarded.Groups", classIdentity},
		{"X_Forwarded_Preferred_Username", classIdentity},
		{"X-Auth-Request-Anything", classIdentity},
		{"X-Edgegate-Assertion", classIdentity},
		{"Edgegate-Identity", classIdentity},
		{"Edgegate-Assertion", classIdentity},
		{"X.Remote.User", classIdentity},
		{"x-very-long-custom-identity-header-name-for-tests", classIdentity},
		{"X-Forwarded-For", classForwarded},
		{"X-Forwarded-" + strings.Repeat("x", 60), classForwarded},
		{"Forwarded", classForwarded},
		{"X-Real-Ip", classForwarded},
		{"X-Original-Url", classForwarded},
		{"X.Http.Method.Override", classForwarded},
		{"Http2-Settings", classHTTP2Settings},
		{"Upgrade", classUpgrade},
		{"Connection", classConnection},
		{"X-Auth-Request", classNone},
		{"X-Forwarded", classNone},
		{"Authorization", classNone},
		{"Cookie", classNone},
		{"X-Remote-Userx", classNone},
		// A configured name matches in every spelling, whichever one the
		// configuration used.
		{"My-Custom-Assertion", classIdentity},
		{"my.custom.assertion", classIdentity},
		{"MY_CUSTOM_ASSERTION", classIdentity},
		{"My-Custom-Assertions", classNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pol.classify(tt.name); got != tt.want {
				t.Errorf("classify(%q) = %d, want %d", tt.name, got, tt.want)
			}
		})
	}
}

func TestSetForwarded(t *testing.T) {
	tests := []struct {
		name string
		res  Result
		host string
		want http.Header
	}{
		{
			name: "untrusted",
			res:  Result{Peer: netip.MustParseAddr("192.0.2.1"), Scheme: "http"},
			host: "a.example:8080",
			want: http.Header{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"a.example:8080"},
				"Forwarded":         {`for=192.0.2.1;host="a.example:8080";proto=http`},
				"X-Other":           {"kept"},
			},
		},
		{
			name: "trusted chain with IPv6 and ports",
			res: Result{Peer: netip.MustParseAddr("2001:db8::7"), Scheme: "https",
				ForwardedFor: "203.0.113.5:99, [2001:db8::1]:443, 2001:db8::2"},
			host: "a",
			want: http.Header{
				"X-Forwarded-For":   {"203.0.113.5:99, [2001:db8::1]:443, 2001:db8::2, 2001:db8::7"},
				"X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host":  {"a"},
				"Forwarded": {`for=203.0.113.5, for="[2001:db8::1]", for="[2001:db8::2]", ` +
					`for="[2001:db8::7]";host="a";proto=https`},
				"X-Other": {"kept"},
			},
		},
		{
			name: "host with CRLF is left out",
			res:  Result{Peer: netip.MustParseAddr("192.0.2.1"), Scheme: "javascript"},
			host: "a\r\nX-Injected: 1",
			want: http.Header{
				"X-Forwarded-For":   {"192.0.2.1"},
				"X-Forwarded-Proto": {"http"},
				"Forwarded":         {`for=192.0.2.1;proto=http`},
				"X-Other":           {"kept"},
			},
		},
		{
			name: "no peer address",
			res:  Result{Scheme: "http"},
			host: "a",
			want: http.Header{
				"X-Forwarded-Proto": {"http"},
				"X-Forwarded-Host":  {"a"},
				"Forwarded":         {`host="a";proto=http`},
				"X-Other":           {"kept"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{
				"X-Forwarded-For":  {"stale"},
				"X-Forwarded-Host": {"stale"},
				"Forwarded":        {"stale"},
				"X-Other":          {"kept"},
			}
			(&Policy{}).SetForwarded(h, tt.res, tt.host)
			if diff := cmp.Diff(tt.want, h); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoveHopByHop(t *testing.T) {
	h := http.Header{
		"Connection":          {"keep-alive, X-Private", "x-other-private"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Connection":    {"keep-alive"},
		"Proxy-Authenticate":  {"Basic"},
		"Proxy-Authorization": {"Basic eDp5"},
		"Te":                  {"trailers"},
		"Trailer":             {"X-T"},
		"Transfer-Encoding":   {"chunked"},
		"Upgrade":             {"websocket"},
		"X-Private":           {"1"},
		"X-Other-Private":     {"1"},
		"Content-Type":        {"text/plain"},
	}
	RemoveHopByHop(h)
	if diff := cmp.Diff(http.Header{"Content-Type": {"text/plain"}}, h); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCheckFramingFailsClosed(t *testing.T) {
	pol := &Policy{}
	r := parseRaw(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if e := pol.CheckFraming(r); e == nil || e.Code != "hygiene.framing_unguarded" || e.Status != 500 {
		t.Fatalf("no guard: got %v", e)
	}
	fc := GuardConn(nil)
	r = r.WithContext(ContextWithConn(context.Background(), fc))
	if e := pol.CheckFraming(r); e == nil || e.Code != "hygiene.framing_unknown" {
		t.Fatalf("no verdict: got %v", e)
	}
	h2 := h2Request(t, "/", "a", nil)
	if e := pol.CheckFraming(h2); e != nil {
		t.Fatalf("HTTP/2: got %v", e)
	}
	if ConnFromContext(context.Background()) != nil {
		t.Fatal("ConnFromContext on empty context")
	}
}

func TestSanitizeHTTP2ConnectionHeaders(t *testing.T) {
	p := &Policy{}
	peer := netip.MustParseAddrPort("127.0.0.1:5000")
	for _, tc := range []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"plain", http.Header{"Accept": {"*/*"}}, true},
		{"te trailers (gRPC)", http.Header{"Te": {"trailers"}}, true},
		{"te gzip", http.Header{"Te": {"gzip"}}, false},
		{"connection", http.Header{"Connection": {"keep-alive"}}, false},
		{"keep-alive", http.Header{"Keep-Alive": {"timeout=5"}}, false},
		{"proxy-connection", http.Header{"Proxy-Connection": {"close"}}, false},
		{"transfer-encoding", http.Header{"Transfer-Encoding": {"chunked"}}, false},
		{"upgrade", http.Header{"Upgrade": {"websocket"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://example.com/a", nil)
			r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
			r.RequestURI = "/a"
			r.Header = tc.header
			_, he := p.Sanitize(r, peer, true)
			if tc.ok && he != nil {
				t.Fatalf("refused: %v", he)
			}
			if !tc.ok && (he == nil || he.Code != "hygiene.h2_connection_header") {
				t.Fatalf("got %v, want hygiene.h2_connection_header", he)
			}
		})
	}
}

func TestSameHeaderName(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"X-My-Assertion", "X-My-Assertion", true},
		{"X-My-Assertion", "x-my-assertion", true},
		{"X-My-Assertion", "X.My.Assertion", true},
		{"X-My-Assertion", "x_my_assertion", true},
		{"X.my.assertion", "X_MY-ASSERTION", true},
		{"X-My-Assertion", "X-My-Assertio", false},
		{"X-My-Assertion", "X-My+Assertion", false},
		{"X-My-Assertion", "XMy-Assertion-", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := SameHeaderName(tt.a, tt.b); got != tt.want {
			t.Errorf("SameHeaderName(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
