package route

import (
	"testing"

	"github.com/edgegate/edgegate/internal/config"
)

// TestDocExamples keeps the examples in docs/routing.md true.
func TestDocExamples(t *testing.T) {
	t.Run("paths", func(t *testing.T) {
		tab := mustCompile(t,
			r("users-any", m(pfx("/users"))),
			r("user", m(pat("/users/{id}"))),
			r("me", m(ex("/users/me"))),
			r("user-files", m(pat("/users/{id}/files/{rest...}"))),
		)
		for path, want := range map[string]string{
			"/users/me":             "me",
			"/users/42":             "user",
			"/users/42/files/a.txt": "user-files",
			"/users/42/other":       "users-any",
			"/users":                "users-any",
		} {
			if got := name(tab.Match(req("h", "GET", path))); got != want {
				t.Errorf("%s: got %s, want %s", path, got, want)
			}
		}
	})
	t.Run("hosts", func(t *testing.T) {
		tab := mustCompile(t,
			r("site", m(anyPath, onHosts("*.example.com"))),
			r("api", m(pfx("/v1"), onHosts("api.example.com"))),
			r("catchall", m(anyPath)),
		)
		for _, tc := range []struct{ host, path, want string }{
			{"api.example.com", "/v1/x", "api"},
			{"api.example.com", "/v2", "site"},
			{"www.example.com", "/v1", "site"},
			{"example.com", "/", "catchall"},
			{"api.example.com", "/login", "site"},
		} {
			if got := name(tab.Match(req(tc.host, "GET", tc.path))); got != tc.want {
				t.Errorf("%s%s: got %s, want %s", tc.host, tc.path, got, tc.want)
			}
		}
	})
	t.Run("rewrites", func(t *testing.T) {
		for _, tc := range []struct{ strip, replace, path, want string }{
			{"/api", "", "/api/users", "/users"},
			{"/api", "", "/api", "/"},
			{"/api", "/v1", "/api/users/", "/v1/users/"},
			{"/api", "/v1", "/apix", "/apix"},
			{"/api/", "/v1", "/api/", "/v1"},
			{"", "/v1", "/a", "/v1/a"},
		} {
			if got := rewritePath(tc.path, tc.strip, tc.replace); got != tc.want {
				t.Errorf("strip %q replace %q %s: got %s, want %s", tc.strip, tc.replace, tc.path, got, tc.want)
			}
		}
	})
	t.Run("redirect query and fragment", func(t *testing.T) {
		rt := mustCompile(t, config.Route{Name: "r", Redirect: &config.Redirect{To: "/new?src=x#top", Status: 308, KeepQuery: true}}).Routes()[0]
		if loc, _, _ := rt.Redirect("/old", "a=1"); loc != "/new?src=x&a=1#top" {
			t.Errorf("Location = %q", loc)
		}
	})
}
