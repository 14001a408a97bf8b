package route

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/edgegate/edgegate/internal/config"
)

// benchTable is ~50 routes: 10 exact hosts with 5 prefixes each, plus a
// wildcard, a pattern and a fallback.
func benchTable(tb testing.TB) *Table {
	tb.Helper()
	var routes []config.Route
	for h := range 10 {
		for p := range 5 {
			routes = append(routes, r(fmt.Sprintf("svc%d-%d", h, p),
				m(pfx(fmt.Sprintf("/api/v%d", p)), onHosts(fmt.Sprintf("svc%d.example.com", h)))))
		}
	}
	routes = append(routes,
		r("wild", m(pfx("/static"), onHosts("*.example.com"))),
		r("users", m(pat("/users/{id}/files/{rest...}"))),
		r("login", m(ex("/login"), methods("GET", "POST"), present("Cookie"))),
		r("fallback", m(pfx("/"))),
	)
	tab, err := Compile(withIndex(routes), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return tab
}

var benchRequests = []struct {
	name string
	req  Request
	want string
}{
	{"exact-host-prefix", Request{Host: "svc7.example.com", Path: "/api/v3/users/42/orders", Method: "GET", Header: http.Header{"Accept": {"*/*"}}}, "svc7-3"},
	{"wildcard-host", Request{Host: "cdn.example.com", Path: "/static/app.js", Method: "GET"}, "wild"},
	{"exact-path-headers", Request{Host: "example.org", Path: "/login", Method: "POST", Header: http.Header{"Cookie": {"s=1"}}}, "login"},
	{"pattern", Request{Host: "example.org", Path: "/users/42/files/a/b.txt", Method: "GET"}, "users"},
	{"fallback", Request{Host: "svc7.example.com", Path: "/nothing/here/at/all", Method: "GET"}, "fallback"},
}

func BenchmarkMatch(b *testing.B) {
	tab := benchTable(b)
	for _, bc := range benchRequests {
		b.Run(bc.name, func(b *testing.B) {
			rq := bc.req
			b.ReportAllocs()
			for b.Loop() {
				if tab.Match(&rq) == nil {
					b.Fatal("no match")
				}
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tab := benchTable(t)
	for _, bc := range benchRequests {
		t.Run(bc.name, func(t *testing.T) {
			rq := bc.req
			if got := name(tab.Match(&rq)); got != bc.want {
				t.Fatalf("Match = %s, want %s", got, bc.want)
			}
			if raceEnabled {
				t.Skip("allocation counts are unreliable under the race detector")
			}
			if n := testing.AllocsPerRun(100, func() { tab.Match(&rq) }); n != 0 {
				t.Errorf("Match allocates %v times per call, want 0", n)
			}
		})
	}
}

func BenchmarkRewritePath(b *testing.B) {
	tab := mustCompile(b, config.Route{Name: "r", Pool: "app", Rewrite: &config.Rewrite{StripPrefix: "/api", ReplacePrefix: "/v1"}})
	rt := tab.Routes()[0]
	b.ReportAllocs()
	for b.Loop() {
		rt.RewritePath("/api/users/42")
	}
}

func BenchmarkHeaderOps(b *testing.B) {
	ops := CompileHeaderOps(config.HeaderOps{
		Remove: []string{"X-Internal"},
		Set:    []config.Header{{Name: "X-Env", Value: "prod"}},
		Add:    []config.Header{{Name: "X-Via", Value: "edgegate"}},
	})
	h := http.Header{"Accept": {"*/*"}}
	b.ReportAllocs()
	for b.Loop() {
		ops.Apply(h)
		delete(h, "X-Via")
	}
}
