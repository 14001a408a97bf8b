package route

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgegate/edgegate/internal/config"
)

// r builds a route literal the way config.Validate would, with a pool.
func r(name string, m config.Match) config.Route {
	return config.Route{Name: name, Match: m, Pool: "app"}
}

// pathSpec is a path kind and path, for building Match literals.
type pathSpec struct {
	kind config.PathKind
	path string
}

var anyPath = pathSpec{}

func pfx(p string) pathSpec { return pathSpec{config.PathPrefix, p} }
func ex(p string) pathSpec  { return pathSpec{config.PathExact, p} }
func pat(p string) pathSpec { return pathSpec{config.PathPattern, p} }

// m builds a Match from a path spec plus optional parts.
func m(ps pathSpec, opts ...func(*config.Match)) config.Match {
	mm := config.Match{PathKind: ps.kind, Path: ps.path}
	for _, o := range opts {
		o(&mm)
	}
	return mm
}

func onHosts(h ...string) func(*config.Match) { return func(m *config.Match) { m.Hosts = h } }
func methods(ms ...string) func(*config.Match) {
	return func(m *config.Match) { m.Methods = ms }
}
func hdr(name, value string) func(*config.Match) {
	return func(m *config.Match) {
		m.Headers = append(m.Headers, config.HeaderMatch{Name: name, Value: value})
	}
}
func present(name string) func(*config.Match) {
	return func(m *config.Match) {
		m.Headers = append(m.Headers, config.HeaderMatch{Name: name, Present: true})
	}
}

// withIndex fills Index and FieldPath as config.Validate does.
func withIndex(routes []config.Route) []config.Route {
	for i := range routes {
		routes[i].Index = i
		routes[i].FieldPath = fmt.Sprintf("routes[%d]", i)
	}
	return routes
}

func mustCompile(t testing.TB, routes ...config.Route) *Table {
	t.Helper()
	tab, err := Compile(withIndex(routes), nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tab
}

func req(host, method, path string, kv ...string) *Request {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return &Request{Host: host, Method: method, Path: path, Header: h}
}

func name(rt *Route) string {
	if rt == nil {
		return "<nil>"
	}
	return rt.Name()
}

func TestMatchPrecedence(t *testing.T) {
	type probe struct {
		req  *Request
		want string
	}
	tests := []struct {
		name   string
		routes []config.Route
		probes []probe
	}{
		{
			name: "rule 1: exact host beats wildcard regardless of file order",
			routes: []config.Route{
				r("wild", m(pfx("/"), onHosts("*.example.com"))),
				r("exact", m(pfx("/"), onHosts("a.example.com"))),
			},
			probes: []probe{
				{req("a.example.com", "GET", "/x"), "exact"},
				{req("b.example.com", "GET", "/x"), "wild"},
			},
		},
		{
			name: "rule 1: wildcard beats no host even with a more specific path",
			routes: []config.Route{
				r("nohost", m(ex("/api"))),
				r("wild", m(anyPath, onHosts("*.example.com"))),
			},
			probes: []probe{
				{req("a.example.com", "GET", "/api"), "wild"},
				{req("example.org", "GET", "/api"), "nohost"},
			},
		},
		{
			name: "rule 1: longer wildcard suffix first",
			routes: []config.Route{
				r("short", m(pfx("/"), onHosts("*.example.com"))),
				r("long", m(pfx("/"), onHosts("*.b.example.com"))),
			},
			probes: []probe{
				{req("x.b.example.com", "GET", "/"), "long"},
				{req("x.y.b.example.com", "GET", "/"), "long"},
				{req("b.example.com", "GET", "/"), "short"},
				{req("x.c.example.com", "GET", "/"), "short"},
			},
		},
		{
			name: "wildcard matches one or more labels but never the apex",
			routes: []config.Route{
				r("wild", m(pfx("/"), onHosts("*.example.com"))),
			},
			probes: []probe{
				{req("a.example.com", "GET", "/"), "wild"},
				{req("a.b.example.com", "GET", "/"), "wild"},
				{req("example.com", "GET", "/"), "<nil>"},
				{req("aexample.com", "GET", "/"), "<nil>"},
				{req(".example.com", "GET", "/"), "<nil>"},
			},
		},
		{
			name: "a route with several hosts takes the tier of the host that matched",
			routes: []config.Route{
				r("multi", m(pfx("/"), onHosts("*.other.com", "a.example.com"))),
				r("wild", m(ex("/x"), onHosts("*.example.com"))),
			},
			probes: []probe{
				{req("a.example.com", "GET", "/x"), "multi"},
				{req("b.example.com", "GET", "/x"), "wild"},
				{req("z.other.com", "GET", "/x"), "multi"},
			},
		},
		{
			name: "a lower tier serves what the higher tier's routes reject",
			routes: []config.Route{
				r("exact-host", m(pfx("/api"), onHosts("a.example.com"))),
				r("wild", m(pfx("/web"), onHosts("*.example.com"))),
				r("fallback", m(anyPath)),
			},
			probes: []probe{
				{req("a.example.com", "GET", "/api/x"), "exact-host"},
				{req("a.example.com", "GET", "/web"), "wild"},
				{req("a.example.com", "GET", "/other"), "fallback"},
			},
		},
		{
			name: "rule 2: exact beats pattern beats prefix beats any",
			routes: []config.Route{
				r("any", m(anyPath)),
				r("prefix", m(pfx("/users"))),
				r("pattern", m(pat("/users/{id}"))),
				r("exact", m(ex("/users/42"))),
			},
			probes: []probe{
				{req("h", "GET", "/users/42"), "exact"},
				{req("h", "GET", "/users/43"), "pattern"},
				{req("h", "GET", "/users/43/x"), "prefix"},
				{req("h", "GET", "/users"), "prefix"},
				{req("h", "GET", "/usersx"), "any"},
			},
		},
		{
			name: "rule 2: longer prefix wins",
			routes: []config.Route{
				r("api", m(pfx("/api"))),
				r("v1", m(pfx("/api/v1"))),
				r("v1slash", m(pfx("/api/v1/"))),
			},
			probes: []probe{
				{req("h", "GET", "/api/v1/x"), "v1slash"},
				{req("h", "GET", "/api/v1/"), "v1slash"},
				{req("h", "GET", "/api/v1"), "v1"},
				{req("h", "GET", "/api/v2"), "api"},
				{req("h", "GET", "/api/v1x"), "api"},
			},
		},
		{
			name: "prefix matches at segment boundaries only",
			routes: []config.Route{
				r("api", m(pfx("/api"))),
				r("docs", m(pfx("/docs/"))),
			},
			probes: []probe{
				{req("h", "GET", "/api"), "api"},
				{req("h", "GET", "/api/"), "api"},
				{req("h", "GET", "/api/x/y"), "api"},
				{req("h", "GET", "/apix"), "<nil>"},
				{req("h", "GET", "/docs/"), "docs"},
				{req("h", "GET", "/docs/a"), "docs"},
				{req("h", "GET", "/docs"), "<nil>"},
			},
		},
		{
			name: "prefix / matches every path",
			routes: []config.Route{
				r("root", m(pfx("/"))),
			},
			probes: []probe{
				{req("h", "GET", "/"), "root"},
				{req("h", "GET", "/a/b/c"), "root"},
			},
		},
		{
			name: "rule 2: among patterns a literal beats {x} beats {x...}",
			routes: []config.Route{
				r("rest", m(pat("/files/{rest...}"))),
				r("param", m(pat("/files/{name}"))),
				r("literal", m(pat("/files/readme"))),
			},
			probes: []probe{
				{req("h", "GET", "/files/readme"), "literal"},
				{req("h", "GET", "/files/a"), "param"},
				{req("h", "GET", "/files/a/b"), "rest"},
				{req("h", "GET", "/files/"), "rest"},
				{req("h", "GET", "/files"), "<nil>"},
			},
		},
		{
			name: "rule 2: the pattern with a literal earlier wins",
			routes: []config.Route{
				r("late", m(pat("/{x}/b"))),
				r("early", m(pat("/a/{y}"))),
			},
			probes: []probe{
				{req("h", "GET", "/a/b"), "early"},
				{req("h", "GET", "/c/b"), "late"},
				{req("h", "GET", "/a/c"), "early"},
			},
		},
		{
			name: "pattern segments are exact, a trailing slash included",
			routes: []config.Route{
				r("slash", m(pat("/u/{id}/"))),
				r("noslash", m(pat("/u/{id}"))),
			},
			probes: []probe{
				{req("h", "GET", "/u/1/"), "slash"},
				{req("h", "GET", "/u/1"), "noslash"},
				{req("h", "GET", "/u//"), "<nil>"},
				{req("h", "GET", "/u/1/2"), "<nil>"},
			},
		},
		{
			name: "rule 3: methods given beat none",
			routes: []config.Route{
				r("all", m(pfx("/x"))),
				r("get", m(pfx("/x"), methods("GET"))),
			},
			probes: []probe{
				{req("h", "GET", "/x"), "get"},
				{req("h", "HEAD", "/x"), "all"},
				{req("h", "POST", "/x"), "all"},
			},
		},
		{
			name: "rule 3: more header matchers beat fewer",
			routes: []config.Route{
				r("zero", m(pfx("/x"))),
				r("one", m(pfx("/x"), hdr("X-Env", "prod"))),
				r("two", m(pfx("/x"), hdr("X-Env", "prod"), present("X-Debug"))),
			},
			probes: []probe{
				{req("h", "GET", "/x", "X-Env", "prod", "X-Debug", "1"), "two"},
				{req("h", "GET", "/x", "X-Env", "prod"), "one"},
				{req("h", "GET", "/x", "X-Env", "dev", "X-Debug", "1"), "zero"},
				{req("h", "GET", "/x", "X-Env", "dev", "X-Env", "prod"), "one"},
			},
		},
		{
			name: "rule 3: methods are weighed before headers",
			routes: []config.Route{
				r("headers", m(pfx("/x"), hdr("X-A", "1"), hdr("X-B", "1"))),
				r("method", m(pfx("/x"), methods("GET"))),
			},
			probes: []probe{
				{req("h", "GET", "/x", "X-A", "1", "X-B", "1"), "method"},
				{req("h", "PUT", "/x", "X-A", "1", "X-B", "1"), "headers"},
			},
		},
		{
			name: "rule 2 comes before rule 3",
			routes: []config.Route{
				r("constrained", m(pfx("/x"), methods("GET"), hdr("X-A", "1"))),
				r("longer", m(pfx("/x/y"))),
			},
			probes: []probe{
				{req("h", "GET", "/x/y", "X-A", "1"), "longer"},
			},
		},
		{
			name: "disjoint methods on the same path",
			routes: []config.Route{
				r("get", m(ex("/x"), methods("GET", "HEAD"))),
				r("post", m(ex("/x"), methods("POST"))),
			},
			probes: []probe{
				{req("h", "POST", "/x"), "post"},
				{req("h", "HEAD", "/x"), "get"},
				{req("h", "DELETE", "/x"), "<nil>"},
			},
		},
		{
			name: "different header sets of equal size: the earlier route wins",
			routes: []config.Route{
				r("a", m(pfx("/"), present("X-A"))),
				r("b", m(pfx("/"), present("X-B"))),
			},
			probes: []probe{
				{req("h", "GET", "/", "X-A", "1", "X-B", "1"), "a"},
				{req("h", "GET", "/", "X-B", "1"), "b"},
				{req("h", "GET", "/"), "<nil>"},
			},
		},
		{
			name: "header names in the config are canonicalized",
			routes: []config.Route{
				r("a", m(pfx("/"), hdr("x-env", "prod"))),
			},
			probes: []probe{
				{req("h", "GET", "/", "X-Env", "prod"), "a"},
				{req("h", "GET", "/", "X-Env", "Prod"), "<nil>"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := mustCompile(t, tc.routes...)
			for _, p := range tc.probes {
				got := name(tab.Match(p.req))
				if got != p.want {
					t.Errorf("Match(%s %s%s %v) = %s, want %s", p.req.Method, p.req.Host, p.req.Path, p.req.Header, got, p.want)
				}
				if ex := name(tab.Explain(p.req).Matched); ex != got {
					t.Errorf("Explain(%s%s).Matched = %s, Match = %s", p.req.Host, p.req.Path, ex, got)
				}
			}
		})
	}
}

func TestMatchEmptyAndNil(t *testing.T) {
	tab := mustCompile(t)
	if got := tab.Match(req("h", "GET", "/")); got != nil {
		t.Errorf("empty table matched %q", got.Name())
	}
	var nilTab *Table
	if got := nilTab.Match(req("h", "GET", "/")); got != nil {
		t.Errorf("nil table matched %q", got.Name())
	}
	tab = mustCompile(t, r("a", m(anyPath)))
	if got := tab.Match(nil); got != nil {
		t.Errorf("nil request matched %q", got.Name())
	}
	if got := name(tab.Match(&Request{Path: "/"})); got != "a" {
		t.Errorf("request without host or header: got %s, want a", got)
	}
}

func TestRoutesAndAccessors(t *testing.T) {
	pos := config.NewPositions("edgegate.yaml")
	pos.Set("routes[1]", config.Position{Line: 7, Column: 5})
	routes := withIndex([]config.Route{
		r("b", m(pfx("/b"))),
		r("a", m(pfx("/a"))),
	})
	tab, err := Compile(routes, pos)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rt := range tab.Routes() {
		got = append(got, rt.Name()+" "+rt.FieldPath()+" "+rt.Location())
	}
	want := []string{"b routes[0] routes[0]", "a routes[1] edgegate.yaml:7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Routes() (-want +got):\n%s", diff)
	}
	if tab.Routes()[1].Config != &routes[1] {
		t.Error("Route.Config does not point at the configured route")
	}
	rs := tab.Routes()
	rs[0] = nil
	if tab.Routes()[0] == nil {
		t.Error("Routes() exposes the table's own slice")
	}
}

func TestParams(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          map[string]string
	}{
		{"/users/{id}", "/users/42", map[string]string{"id": "42"}},
		{"/users/{id}/files/{rest...}", "/users/42/files/a/b.txt", map[string]string{"id": "42", "rest": "a/b.txt"}},
		{"/users/{id}/files/{rest...}", "/users/42/files/", map[string]string{"id": "42", "rest": ""}},
		{"/users/{id}", "/users/", nil},
		{"/users/{id}", "/users/42/x", nil},
		{"/static", "/static", map[string]string{}},
		{"/{a}/{b}", "/x/y", map[string]string{"a": "x", "b": "y"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.path, func(t *testing.T) {
			tab := mustCompile(t, r("p", m(pat(tc.pattern))))
			got := tab.Routes()[0].Params(tc.path)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Params (-want +got):\n%s", diff)
			}
		})
	}
	tab := mustCompile(t, r("p", m(pfx("/users"))))
	if got := tab.Routes()[0].Params("/users/1"); got != nil {
		t.Errorf("Params on a prefix route = %v, want nil", got)
	}
}

func TestCompileErrors(t *testing.T) {
	pos := config.NewPositions("edgegate.yaml")
	pos.Set("routes[0]", config.Position{Line: 3, Column: 5})
	pos.Set("routes[0].match.path_pattern", config.Position{Line: 5, Column: 21})
	tests := []struct {
		name  string
		match config.Match
		want  string
	}{
		{"pattern without slash", m(pat("users")), `edgegate.yaml:5:21: routes[0].match.path_pattern: pattern "users": must start with "/"`},
		{"partial wildcard", m(pat("/u/x{id}")), `segment "x{id}": a wildcard must be a whole segment`},
		{"rest not last", m(pat("/u/{r...}/x")), `{r...} must be the last segment`},
		{"bad name", m(pat("/u/{1x}")), `bad wildcard name "1x"`},
		{"empty name", m(pat("/u/{}")), `bad wildcard name ""`},
		{"duplicate name", m(pat("/{a}/{a}")), `wildcard name "a" used twice`},
		{"empty segment", m(pat("/a//b")), `empty segment`},
		{"prefix without slash", m(pfx("api")), `edgegate.yaml:3:5: routes[0].match.path_prefix: path "api" must start with "/"`},
		{"exact without slash", m(ex("")), `path "" must start with "/"`},
		{"unknown kind", m(pathSpec{"regex", "/x"}), `unknown path kind "regex"`},
		{"path without kind", m(pathSpec{"", "/x"}), `path "/x" given without a path kind`},
		{"wildcard in the middle", m(anyPath, onHosts("a.*.com")), `routes[0].match.hosts[0]: host "a.*.com": "*." is allowed only as the whole first label`},
		{"bare star", m(anyPath, onHosts("*")), `"*." is allowed only`},
		{"empty wildcard", m(anyPath, onHosts("*.")), `host "*." is empty`},
		{"upper-case host", m(anyPath, onHosts("A.com")), `must be lower-case`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Compile(withIndex([]config.Route{r("a", tc.match)}), pos)
			if err == nil {
				t.Fatalf("Compile succeeded (%d routes), want error containing %q", len(tab.Routes()), tc.want)
			}
			if tab != nil {
				t.Error("Compile returned a table with an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			var list config.ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Errorf("error is not a one-element config.ErrorList: %#v", err)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Error("error does not match config.ErrInvalid")
			}
		})
	}
}

func TestCompileReportsEveryBadRoute(t *testing.T) {
	_, err := Compile(withIndex([]config.Route{
		r("a", m(pat("/{"))),
		r("ok", m(pfx("/"))),
		r("ok-again", m(pfx("/"))),
		r("b", m(pfx("x"))),
	}), nil)
	var list config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want config.ErrorList, got %v", err)
	}
	var paths []string
	for _, e := range list {
		paths = append(paths, e.Path)
	}
	want := []string{"routes[0].match.path_pattern", "routes[2].match", "routes[3].match.path_prefix"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("error paths (-want +got):\n%s", diff)
	}
}
