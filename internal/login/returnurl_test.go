package login

import (
	"net/url"
	"strings"
	"testing"
)

// TestSafeReturn is the open-redirect table of security-tests.md §3 (after
// oauth2-proxy's validator tests and the advisories it cites).
func TestSafeReturn(t *testing.T) {
	const host = "gw.example"
	allowed := []string{"app.example", "admin.example:8443"}
	cases := []struct {
		in   string
		want string // "" = refused
	}{
		{"/", "/"},
		{"/app?x=1", "/app?x=1"},
		{"/app/a%20b", ""}, // encoded space: refused outright
		{"/app/#frag", "/app/#frag"},
		{"https://gw.example/app", "https://gw.example/app"},
		{"http://gw.example/app", "http://gw.example/app"},
		{"https://app.example/x", "https://app.example/x"},
		{"https://admin.example:8443/", "https://admin.example:8443/"},
		// scheme-relative
		{"//evil.com", ""}, {"///evil.com", ""}, {"////evil.com", ""}, {"//gw.example", ""},
		// backslashes
		{`/\evil.com`, ""}, {`\\evil.com`, ""}, {`/\/evil.com`, ""}, {`\/evil.com`, ""}, {`/%5cevil.com`, ""}, {`/%5Cevil.com`, ""},
		// control characters and whitespace, raw and encoded
		{"/\t/evil.com", ""}, {"/%09/evil.com", ""}, {"/%0a/evil.com", ""}, {"/%0d/evil.com", ""}, {"/%0b/evil.com", ""},
		{"/\n/evil.com", ""}, {"/\r/evil.com", ""}, {"/\v/evil.com", ""}, {" /app", ""}, {"/app ", ""}, {"/%00", ""},
		// encoded slashes and double encoding
		{"/%2f%2fevil.com", ""}, {"/%2F/evil.com", ""}, {"%2f%2fevil.com", ""}, {"/%252f%252fevil.com", ""},
		// absolute to another host
		{"https://evil.com/", ""}, {"http://evil.com", ""}, {"https:evil.com", ""}, {"https:/evil.com", ""}, {"https:///evil.com", ""},
		// look-alike and suffix/prefix domains, user info
		{"https://gw.example.evil.com/", ""}, {"https://evilgw.example/", ""}, {"https://gw.example@evil.com/", ""},
		{"https://evil.com@gw.example/", ""}, {"https://sub.app.example/", ""}, {"https://app.example.evil/", ""},
		// ports
		{"https://gw.example:8443/", ""}, {"https://admin.example/", ""}, {"https://app.example:444/", ""},
		// other schemes
		{"javascript:alert(1)", ""}, {"JavaScript:alert(1)", ""}, {"data:text/html,<script>", ""}, {"ftp://gw.example/", ""},
		{"vbscript:x", ""}, {"file:///etc/passwd", ""},
		// relative without a leading slash, and oddities
		{"evil.com", ""}, {"app", ""}, {"", ""}, {"/" + strings.Repeat("a", 3000), ""}, {"/é", ""},
		{"https://gw.example//evil.com", ""},
	}
	for _, c := range cases {
		t.Run(url.PathEscape(c.in), func(t *testing.T) {
			got, ok := SafeReturn(c.in, host, allowed)
			if c.want == "" {
				if ok || got != "/" {
					t.Errorf("SafeReturn(%q) = %q, %v; want refused", c.in, got, ok)
				}
				return
			}
			if !ok || got != c.want {
				t.Errorf("SafeReturn(%q) = %q, %v; want %q", c.in, got, ok, c.want)
			}
		})
	}
}

// FuzzSafeReturn: whatever is accepted must be a same-origin path or an
// absolute URL to an allowed host, as the browser will resolve it.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/", "/app?x=1", "//evil", `/\evil`, "https://gw.example/", "https://evil@gw.example", "/%09/x", "javascript:x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://gw.example/start")
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := SafeReturn(in, "gw.example", []string{"app.example"})
		if !ok {
			if got != "/" {
				t.Fatalf("refused %q but returned %q", in, got)
			}
			return
		}
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q → %q, which does not parse: %v", in, got, err)
		}
		// Host names are case-insensitive: the browser goes to gw.example
		// for gw.examplE.
		if host := strings.ToLower(u.Host); host != "gw.example" && host != "app.example" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("accepted %q → %q resolves to %s", in, got, u)
		}
		if strings.ContainsAny(got, "\\\t\r\n") {
			t.Fatalf("accepted %q with a backslash or control character", got)
		}
	})
}
