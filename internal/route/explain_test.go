package route

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgegate/edgegate/internal/config"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// explainTable is a small but varied configuration, positioned as if read
// from edgegate.yaml with route i at line 10*i+3.
func explainTable(t *testing.T) *Table {
	t.Helper()
	routes := withIndex([]config.Route{
		r("login", m(ex("/login"), onHosts("app.example.com"), methods("GET", "POST"))),
		r("api", m(pfx("/api"), onHosts("*.example.com"), methods("GET"))),
		r("api-beta", m(pfx("/api"), onHosts("*.example.com"), methods("GET"), hdr("X-Beta", "on"), present("Authorization"))),
		r("files", m(pat("/users/{id}/files/{rest...}"))),
		r("old", config.Match{Hosts: []string{"old.example.org"}}),
		r("fallback", m(pfx("/"))),
	})
	pos := config.NewPositions("edgegate.yaml")
	for i := range routes {
		pos.Set(fmt.Sprintf("routes[%d]", i), config.Position{Line: 10*i + 3, Column: 5})
	}
	tab, err := Compile(routes, pos)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestExplainGolden(t *testing.T) {
	tab := explainTable(t)
	probes := []*Request{
		req("app.example.com", "GET", "/login"),
		req("app.example.com", "DELETE", "/login"),
		req("www.example.com", "GET", "/api/v1/users"),
		req("www.example.com", "GET", "/api/v1/users", "X-Beta", "on", "Authorization", "Bearer secret-token"),
		req("www.example.com", "GET", "/api/v1/users", "X-Beta", "off-secret-value", "Authorization", "Bearer secret-token"),
		req("www.example.com", "POST", "/apix"),
		req("example.com", "GET", "/users/42/files/a/b.txt"),
		req("old.example.org", "GET", "/anything"),
	}
	var b strings.Builder
	for _, p := range probes {
		fmt.Fprintf(&b, "=== %s %s%s headers %v\n", p.Method, p.Host, p.Path, slices.Sorted(maps.Keys(p.Header)))
		e := tab.Explain(p)
		b.WriteString(e.String())
		b.WriteString("\n\n")
	}
	// A table whose routes all reject the request.
	narrow := mustCompile(t,
		r("a", m(pfx("/api"), onHosts("b.com"))),
		r("b", m(ex("/x"), methods("GET"), present("X-Env"))),
	)
	p := req("a.com", "POST", "/y")
	fmt.Fprintf(&b, "=== %s %s%s\n", p.Method, p.Host, p.Path)
	b.WriteString(narrow.Explain(p).String())
	b.WriteString("\n")
	got := b.String()

	if strings.Contains(got, "secret") {
		t.Error("explanation shows a header value")
	}
	golden := filepath.Join("testdata", "explain.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("explain output differs from %s (-want +got); run with -update if intended:\n%s", golden, diff)
	}
}

func TestExplainSteps(t *testing.T) {
	tab := explainTable(t)
	e := tab.Explain(req("www.example.com", "GET", "/api/x"))
	if e.Matched == nil || e.Matched.Name() != "api" {
		t.Fatalf("Matched = %v, want api", name(e.Matched))
	}
	type step struct {
		Route   string
		Matched bool
		Reason  string
	}
	var got []step
	for _, s := range e.Steps {
		got = append(got, step{s.Route, s.Matched, s.Reason})
	}
	want := []step{
		{"api-beta", false, "header X-Beta: missing; header Authorization: missing"},
		{"api", true, "host *.example.com, prefix /api, method GET"},
		{"files", false, `not reached: route "api" matched first`},
		{"fallback", false, `not reached: route "api" matched first`},
		{"login", false, `host "www.example.com" not in [app.example.com]`},
		{"old", false, `host "www.example.com" not in [old.example.org]`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if s := e.Steps[1]; s.FieldPath != "routes[1]" || s.Location != "edgegate.yaml:13" {
		t.Errorf("step location = %q %q, want routes[1] edgegate.yaml:13", s.FieldPath, s.Location)
	}
	if first := strings.SplitN(e.String(), "\n", 2)[0]; first != `route "api" (edgegate.yaml:13): matched: host *.example.com, prefix /api, method GET` {
		t.Errorf("first line = %q", first)
	}
}

func TestExplainNil(t *testing.T) {
	var tab *Table
	if e := tab.Explain(req("h", "GET", "/")); e.Matched != nil || len(e.Steps) != 0 {
		t.Errorf("nil table explanation = %+v, want empty", e)
	}
	if e := explainTable(t).Explain(nil); e.Matched != nil || len(e.Steps) != 0 {
		t.Errorf("nil request explanation = %+v, want empty", e)
	}
}
