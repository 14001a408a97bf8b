package hygiene

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		raw  string
		want string // normalized path, or the error code
	}{
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/.well-known/x", "/.well-known/x"},
		{"/a..b/..c/c..", "/a..b/..c/c.."},
		{"/...", "/..."},
		{"/a;b=c/d", "/a;b=c/d"},
		{"/a/.", "/a/"},
		{"/a/..", "/"},
		{"/a/b/..", "/a/"},
		{"/a/./b/../c", "/a/c"},
		{"/info/../private", "/private"},
		{"//", "/"},
		{"//a", "/a"},
		{"///a//b///", "/a/b/"},
		{"/a/%2e/b", "/a/b"},
		{"/a/%2E%2E/b", "/b"},
		{"/a/.%2e/b", "/b"},
		{"/a/%2e./b", "/b"},
		{"/%41%42", "/AB"},
		{"/a%20b", "/a b"},
		{"/a%25b", "/a%b"},
		{"/a%3Fb%23c", "/a?b#c"},
		{"/caf%C3%A9", "/café"},
		{"/café", "/café"},
		{"/.", "/"},
		{"/./", "/"},
		{"/..", "hygiene.path_traversal"},
		{"/../a", "hygiene.path_traversal"},
		{"/a/../..", "hygiene.path_traversal"},
		{"/a/%2e%2e/%2e%2e", "hygiene.path_traversal"},
		{"/user/..;foo=bar/admin", "hygiene.param_segment"},
		{"/user/.;/admin", "hygiene.param_segment"},
		{"/;/admin", "hygiene.param_segment"},
		{"/a/;x", "hygiene.param_segment"},
		{"/a/%2e%2e;x/b", "hygiene.param_segment"},
		{"/a%2fb", "hygiene.encoded_slash"},
		{"/a%2Fb", "hygiene.encoded_slash"},
		{"/something%2F..%2Fadmin", "hygiene.encoded_slash"},
		{"/a%5cb", "hygiene.encoded_backslash"},
		{"/a%5Cb", "hygiene.encoded_backslash"},
		{"/a%00", "hygiene.encoded_nul"},
		{"/a%3bb", "hygiene.encoded_semicolon"},
		{"/a%0d%0aX:y", "hygiene.encoded_control"},
		{"/a%7f", "hygiene.encoded_control"},
		{"/a%", "hygiene.bad_percent"},
		{"/a%2", "hygiene.bad_percent"},
		{"/a%zz", "hygiene.bad_percent"},
		{"/a%g1", "hygiene.bad_percent"},
		{`/a\b`, "hygiene.backslash"},
		{"/a\x00b", "hygiene.path_char"},
		{"/a\x1fb", "hygiene.path_char"},
		{"/a\x7fb", "hygiene.path_char"},
		{"/a b", "hygiene.path_char"},
		{"/%c0%ae%c0%ae/", "hygiene.bad_utf8"},
		{"/%c0%af", "hygiene.bad_utf8"},
		{"/%e0%80%ae", "hygiene.bad_utf8"},
		{"/\xc0\xae", "hygiene.bad_utf8"},
		{"/%ff", "hygiene.bad_utf8"},
		{"", "hygiene.target_form"},
		{"a/b", "hygiene.target_form"},
		{"/" + strings.Repeat("a/../", 100) + "b", "/b"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, ru := cleanPath(tt.raw)
			if ru != ruleOK {
				got = ru.Code()
			}
			if got != tt.want {
				t.Errorf("cleanPath(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestCleanPathNoAllocWhenClean(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users/42", "/.well-known/acme-challenge/x", "/a;b/c/"} {
		if n := testing.AllocsPerRun(100, func() { cleanPath(p) }); n != 0 {
			t.Errorf("cleanPath(%q): %v allocs", p, n)
		}
	}
}

// checkCleanOutput asserts the invariants of a successful cleanPath.
func checkCleanOutput(t *testing.T, raw, out string) {
	t.Helper()
	if !strings.HasPrefix(out, "/") {
		t.Fatalf("cleanPath(%q) = %q: not absolute", raw, out)
	}
	for _, bad := range []string{"//", "/./", "/../", "\\", "\x00"} {
		if strings.Contains(out, bad) {
			t.Fatalf("cleanPath(%q) = %q contains %q", raw, out, bad)
		}
	}
	if strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
		t.Fatalf("cleanPath(%q) = %q ends in a dot segment", raw, out)
	}
	// Idempotent: the outbound (escaped) form cleans to the same path.
	esc := (&url.URL{Path: out}).EscapedPath()
	again, ru := cleanPath(esc)
	if ru != ruleOK || again != out {
		t.Fatalf("cleanPath(%q) = %q; escaped %q cleans to %q, %s", raw, out, esc, again, ru.Code())
	}
	if out2, ru := cleanPath(out); ru == ruleOK && !strings.Contains(out, "%") && out2 != out {
		t.Fatalf("cleanPath(%q) = %q; cleaning it again gives %q", raw, out, out2)
	}
}

func FuzzSanitizePath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/../b", "/a/%2e%2e/b", "//a//b/", "/a/..;x/b", "/%c0%ae", "/a%2fb", "/a%25%32%66",
		"/./.././", "/a/b/c/../../..", "/%2e%2e%2f", "/a;b/.;/c", "/\xff", "/a%", "/caf%C3%A9/.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, ru := cleanPath(raw)
		if ru != ruleOK {
			if out != "" {
				t.Fatalf("error %s with output %q", ru.Code(), out)
			}
		} else {
			checkCleanOutput(t, raw, out)
		}

		// The same target through Sanitize, as an HTTP/2 :path.
		r := &http.Request{Method: "GET", RequestURI: raw, URL: &url.URL{}, Header: http.Header{},
			Host: "a", Proto: "HTTP/2.0", ProtoMajor: 2}
		res, e := (&Policy{}).Sanitize(r, netip.MustParseAddrPort("192.0.2.1:1"), false)
		if e != nil {
			if !strings.HasPrefix(e.Code, "hygiene.") || e.Status < 400 {
				t.Fatalf("bad error %+v", e)
			}
			return
		}
		checkCleanOutput(t, raw, res.Path)
		if r.URL.Path != res.Path || r.URL.RawPath != "" {
			t.Fatalf("URL.Path %q RawPath %q, Result.Path %q", r.URL.Path, r.URL.RawPath, res.Path)
		}
		if strings.ContainsAny(r.URL.RawQuery, "\x00\r\n #") {
			t.Fatalf("query %q kept", r.URL.RawQuery)
		}
	})
}
