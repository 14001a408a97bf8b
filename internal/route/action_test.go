package route

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgegate/edgegate/internal/config"
)

func TestRewritePath(t *testing.T) {
	tests := []struct {
		name           string
		strip, replace string
		path, want     string
	}{
		{"strip to root", "/api", "", "/api", "/"},
		{"strip keeps the rest", "/api", "", "/api/users/1", "/users/1"},
		{"strip keeps a trailing slash", "/api", "", "/api/", "/"},
		{"strip keeps a deeper trailing slash", "/api", "", "/api/users/", "/users/"},
		{"replace", "/api", "/v1", "/api/users", "/v1/users"},
		{"replace on the bare prefix", "/api", "/v1", "/api", "/v1"},
		{"replace with trailing slash", "/api", "/v1/", "/api/users", "/v1/users"},
		{"replace on prefix with slash kept", "/api", "/v1", "/api/", "/v1/"},
		{"strip with trailing slash", "/api/", "/v1", "/api/users", "/v1/users"},
		{"strip with trailing slash, bare", "/api/", "/v1", "/api/", "/v1"},
		{"not at a segment boundary", "/api", "/v1", "/apix/y", "/apix/y"},
		{"not under the prefix", "/api", "/v1", "/web", "/web"},
		{"strip root", "/", "/v1", "/a/b", "/v1/a/b"},
		{"strip root on root", "/", "/v1", "/", "/v1"},
		{"no strip: replace prepends", "", "/v1", "/a", "/v1/a"},
		{"replace with dot segments is normalized", "/api", "/v1/../v2", "/api/x", "/v2/x"},
		{"replace without leading slash", "/api", "v1", "/api/x", "/v1/x"},
		{"replace that climbs above root", "/api", "/..", "/api/x", "/x"},
		{"replace slash", "/api", "/", "/api/x", "/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := config.Route{Name: "r", Pool: "app", Rewrite: &config.Rewrite{StripPrefix: tc.strip, ReplacePrefix: tc.replace}}
			tab := mustCompile(t, rc)
			if got := tab.Routes()[0].RewritePath(tc.path); got != tc.want {
				t.Errorf("RewritePath(%q) with strip %q replace %q = %q, want %q", tc.path, tc.strip, tc.replace, got, tc.want)
			}
		})
	}
	t.Run("no rewrite is the identity", func(t *testing.T) {
		tab := mustCompile(t, r("r", m(anyPath)))
		for _, p := range []string{"/", "/a//b", "/a/../b"} {
			if got := tab.Routes()[0].RewritePath(p); got != p {
				t.Errorf("RewritePath(%q) = %q, want it unchanged", p, got)
			}
		}
	})
}

func TestRedirect(t *testing.T) {
	type result struct {
		Location string
		Status   int
		OK       bool
	}
	tests := []struct {
		name      string
		redirect  *config.Redirect
		path, raw string
		want      result
	}{
		{"absolute", &config.Redirect{To: "https://example.com/new", Status: 308}, "/old", "a=1", result{"https://example.com/new", 308, true}},
		{"absolute keep query", &config.Redirect{To: "https://example.com/new", Status: 301, KeepQuery: true}, "/old", "a=1&b=2", result{"https://example.com/new?a=1&b=2", 301, true}},
		{"keep query, empty query", &config.Redirect{To: "https://example.com/new", Status: 301, KeepQuery: true}, "/old", "", result{"https://example.com/new", 301, true}},
		{"keep query joins an existing query", &config.Redirect{To: "https://example.com/new?src=old", Status: 302, KeepQuery: true}, "/", "a=1", result{"https://example.com/new?src=old&a=1", 302, true}},
		{"keep query after a bare ?", &config.Redirect{To: "/new?", Status: 302, KeepQuery: true}, "/", "a=1", result{"/new?a=1", 302, true}},
		{"keep query goes before the fragment", &config.Redirect{To: "/new#top", Status: 302, KeepQuery: true}, "/", "a=1", result{"/new?a=1#top", 302, true}},
		{"path target", &config.Redirect{To: "/login", Status: 303}, "/signin", "x=1", result{"/login", 303, true}},
		{"default status", &config.Redirect{To: "/login"}, "/signin", "", result{"/login", 302, true}},
		{
			"map hit", &config.Redirect{Status: 301, KeepQuery: true, Map: map[string]string{"/old": "https://example.com/new"}},
			"/old", "q=1", result{"https://example.com/new?q=1", 301, true},
		},
		{
			"map miss without to", &config.Redirect{Status: 301, Map: map[string]string{"/old": "/new"}},
			"/other", "", result{"", 0, false},
		},
		{
			"map is exact about trailing slashes", &config.Redirect{Status: 301, Map: map[string]string{"/old": "/new"}},
			"/old/", "", result{"", 0, false},
		},
		{
			"map miss falls back to to", &config.Redirect{To: "https://example.com/", Status: 308, Map: map[string]string{"/old": "/new"}},
			"/other", "", result{"https://example.com/", 308, true},
		},
		{"no redirect", nil, "/", "", result{"", 0, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := config.Route{Name: "r", Redirect: tc.redirect}
			if tc.redirect == nil {
				rc.Pool = "app"
			}
			tab := mustCompile(t, rc)
			var got result
			got.Location, got.Status, got.OK = tab.Routes()[0].Redirect(tc.path, tc.raw)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Redirect(%q, %q) (-want +got):\n%s", tc.path, tc.raw, diff)
			}
		})
	}
}

func TestHeaderOps(t *testing.T) {
	tests := []struct {
		name string
		ops  config.HeaderOps
		in   http.Header
		want http.Header
	}{
		{
			name: "remove then set then add",
			ops: config.HeaderOps{
				Remove: []string{"X-Internal", "X-Env"},
				Set:    []config.Header{{Name: "X-Env", Value: "prod"}},
				Add:    []config.Header{{Name: "X-Env", Value: "extra"}, {Name: "X-Via", Value: "edgegate"}},
			},
			in:   http.Header{"X-Internal": {"secret"}, "X-Env": {"dev", "test"}, "X-Via": {"client"}, "Keep": {"1"}},
			want: http.Header{"X-Env": {"prod", "extra"}, "X-Via": {"client", "edgegate"}, "Keep": {"1"}},
		},
		{
			name: "set replaces every value",
			ops:  config.HeaderOps{Set: []config.Header{{Name: "Cache-Control", Value: "no-store"}}},
			in:   http.Header{"Cache-Control": {"max-age=1", "public"}},
			want: http.Header{"Cache-Control": {"no-store"}},
		},
		{
			name: "names are canonicalized",
			ops: config.HeaderOps{
				Remove: []string{"server"},
				Set:    []config.Header{{Name: "strict-transport-security", Value: "max-age=63072000"}},
			},
			in:   http.Header{"Server": {"nginx"}},
			want: http.Header{"Strict-Transport-Security": {"max-age=63072000"}},
		},
		{
			name: "removing an absent header is fine",
			ops:  config.HeaderOps{Remove: []string{"X-Nope"}},
			in:   http.Header{"A": {"1"}},
			want: http.Header{"A": {"1"}},
		},
		{
			name: "empty ops change nothing",
			in:   http.Header{"A": {"1"}},
			want: http.Header{"A": {"1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops := CompileHeaderOps(tc.ops)
			if got, want := ops.Empty(), tc.ops.Remove == nil && tc.ops.Set == nil && tc.ops.Add == nil; got != want {
				t.Errorf("Empty() = %v, want %v", got, want)
			}
			h := tc.in.Clone()
			ops.Apply(h)
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Errorf("Apply (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("set values are not shared between requests", func(t *testing.T) {
		ops := CompileHeaderOps(config.HeaderOps{Set: []config.Header{{Name: "X-A", Value: "v"}}})
		h1, h2 := http.Header{}, http.Header{}
		ops.Apply(h1)
		h1["X-A"][0] = "changed"
		ops.Apply(h2)
		if got := h2.Get("X-A"); got != "v" {
			t.Errorf("second request got X-A %q, want %q", got, "v")
		}
	})
	t.Run("nil header is left alone", func(t *testing.T) {
		CompileHeaderOps(config.HeaderOps{Set: []config.Header{{Name: "X-A", Value: "v"}}}).Apply(nil)
	})
	t.Run("route accessors", func(t *testing.T) {
		rc := r("r", m(anyPath))
		rc.RequestHeaders = config.HeaderOps{Add: []config.Header{{Name: "X-Req", Value: "1"}}}
		rc.ResponseHeaders = config.HeaderOps{Remove: []string{"Server"}}
		rt := mustCompile(t, rc).Routes()[0]
		h := http.Header{"Server": {"x"}}
		rt.RequestHeaders().Apply(h)
		rt.ResponseHeaders().Apply(h)
		if diff := cmp.Diff(http.Header{"X-Req": {"1"}}, h); diff != "" {
			t.Errorf("request then response ops (-want +got):\n%s", diff)
		}
	})
}
