package route

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgegate/edgegate/internal/config"
)

func TestAmbiguity(t *testing.T) {
	const tail = " and neither is more specific; make one more specific or merge them"
	// overlap is the message reported at route later about route earlier,
	// whose route stands at line 10*index+10 and its match one line below.
	overlap := func(later int, laterName string, earlier int, earlierName string) string {
		return fmt.Sprintf("edgegate.yaml:%d:7: routes[%d].match: route %q overlaps route %q (edgegate.yaml:%d)%s",
			10*later+11, later, laterName, earlierName, 10*earlier+10, tail)
	}
	tests := []struct {
		name   string
		routes []config.Route
		want   []string // nil: compiles
	}{
		{
			name: "no host, same prefix",
			routes: []config.Route{
				r("a", m(pfx("/api"))),
				r("b", m(pfx("/api"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "both match everything",
			routes: []config.Route{
				r("a", m(anyPath)),
				r("b", m(anyPath)),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "one shared exact host among several",
			routes: []config.Route{
				r("a", m(pfx("/"), onHosts("a.com", "b.com"))),
				r("b", m(pfx("/"), onHosts("c.com", "b.com"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "two shared hosts give one error per pair",
			routes: []config.Route{
				r("a", m(pfx("/"), onHosts("a.com", "*.b.com"))),
				r("b", m(pfx("/"), onHosts("*.b.com", "a.com"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "same wildcard",
			routes: []config.Route{
				r("a", m(ex("/x"), onHosts("*.example.com"))),
				r("b", m(ex("/x"), onHosts("*.example.com"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "same exact path",
			routes: []config.Route{
				r("a", m(ex("/login"))),
				r("b", m(ex("/login"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "patterns differing only in wildcard names",
			routes: []config.Route{
				r("a", m(pat("/users/{id}/files/{rest...}"))),
				r("b", m(pat("/users/{uid}/files/{path...}"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "overlapping method sets",
			routes: []config.Route{
				r("a", m(pfx("/x"), methods("GET", "POST"))),
				r("b", m(pfx("/x"), methods("PUT", "POST"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "same header set in another order",
			routes: []config.Route{
				r("a", m(pfx("/x"), hdr("X-Env", "prod"), present("X-Debug"))),
				r("b", m(pfx("/x"), present("X-Debug"), hdr("X-Env", "prod"))),
			},
			want: []string{overlap(1, "b", 0, "a")},
		},
		{
			name: "three identical routes give every pair, at the later route",
			routes: []config.Route{
				r("a", m(pfx("/x"))),
				r("b", m(pfx("/x"))),
				r("c", m(pfx("/x"))),
			},
			want: []string{
				overlap(1, "b", 0, "a"),
				overlap(2, "c", 0, "a"),
				overlap(2, "c", 1, "b"),
			},
		},
		{
			name: "an unrelated route in between",
			routes: []config.Route{
				r("a", m(pfx("/x"))),
				r("other", m(pfx("/y"))),
				r("c", m(pfx("/x"))),
			},
			want: []string{overlap(2, "c", 0, "a")},
		},
		// Near misses: each differs from an ambiguous pair in one detail
		// that rules 1-3 order or that makes the match sets disjoint.
		{
			name: "exact host and a wildcard covering it",
			routes: []config.Route{
				r("a", m(pfx("/"), onHosts("*.example.com"))),
				r("b", m(pfx("/"), onHosts("a.example.com"))),
			},
		},
		{
			name: "nested wildcards",
			routes: []config.Route{
				r("a", m(pfx("/"), onHosts("*.example.com"))),
				r("b", m(pfx("/"), onHosts("*.b.example.com"))),
			},
		},
		{
			name: "different hosts",
			routes: []config.Route{
				r("a", m(pfx("/"), onHosts("a.com"))),
				r("b", m(pfx("/"), onHosts("b.com"))),
			},
		},
		{
			name: "host and no host",
			routes: []config.Route{
				r("a", m(pfx("/"), onHosts("a.com"))),
				r("b", m(pfx("/"))),
			},
		},
		{
			name: "prefix with and without trailing slash",
			routes: []config.Route{
				r("a", m(pfx("/api"))),
				r("b", m(pfx("/api/"))),
			},
		},
		{
			name: "exact and prefix on the same path",
			routes: []config.Route{
				r("a", m(ex("/a"))),
				r("b", m(pfx("/a"))),
			},
		},
		{
			name: "pattern literal and wildcard",
			routes: []config.Route{
				r("a", m(pat("/users/{id}"))),
				r("b", m(pat("/users/me"))),
			},
		},
		{
			name: "equally specific patterns with different literals",
			routes: []config.Route{
				r("a", m(pat("/a/{x}"))),
				r("b", m(pat("/b/{x}"))),
			},
		},
		{
			name: "crossed patterns",
			routes: []config.Route{
				r("a", m(pat("/a/{x}"))),
				r("b", m(pat("/{y}/b"))),
			},
		},
		{
			name: "param and rest",
			routes: []config.Route{
				r("a", m(pat("/f/{x}"))),
				r("b", m(pat("/f/{x...}"))),
			},
		},
		{
			name: "disjoint methods",
			routes: []config.Route{
				r("a", m(pfx("/x"), methods("GET", "HEAD"))),
				r("b", m(pfx("/x"), methods("POST"))),
			},
		},
		{
			name: "methods and no methods",
			routes: []config.Route{
				r("a", m(pfx("/x"), methods("GET"))),
				r("b", m(pfx("/x"))),
			},
		},
		{
			name: "different header sets of equal size",
			routes: []config.Route{
				r("a", m(pfx("/x"), hdr("X-Env", "prod"))),
				r("b", m(pfx("/x"), hdr("X-Env", "dev"))),
			},
		},
		{
			name: "presence and value on the same header",
			routes: []config.Route{
				r("a", m(pfx("/x"), present("X-Env"))),
				r("b", m(pfx("/x"), hdr("X-Env", "prod"))),
			},
		},
		{
			name: "more header matchers",
			routes: []config.Route{
				r("a", m(pfx("/x"), hdr("X-Env", "prod"))),
				r("b", m(pfx("/x"), hdr("X-Env", "prod"), present("X-Debug"))),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			routes := withIndex(tc.routes)
			pos := config.NewPositions("edgegate.yaml")
			for i := range routes {
				pos.Set(fmt.Sprintf("routes[%d]", i), config.Position{Line: 10*i + 10, Column: 5})
				pos.Set(fmt.Sprintf("routes[%d].match", i), config.Position{Line: 10*i + 11, Column: 7})
			}
			tab, err := Compile(routes, pos)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Compile: unexpected error: %v", err)
				}
				if len(tab.Routes()) != len(routes) {
					t.Errorf("table has %d routes, want %d", len(tab.Routes()), len(routes))
				}
				return
			}
			var list config.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Compile error = %v, want a config.ErrorList", err)
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Error("error does not match config.ErrInvalid")
			}
			var got []string
			for _, e := range list {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAmbiguityWithoutPositions(t *testing.T) {
	_, err := Compile([]config.Route{
		r("a", m(pfx("/x"))),
		r("b", m(pfx("/x"))),
	}, nil)
	want := `<config>: routes[1].match: route "b" overlaps route "a" (routes[0]) and neither is more specific; make one more specific or merge them`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant    %s", err, want)
	}
}
