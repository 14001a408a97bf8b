package route

import (
	"net/http"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/internal/config"
)

func FuzzPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"/users/{id}", "/users/42"},
		{"/users/{id}/files/{rest...}", "/users/42/files/a/b"},
		{"/files/{rest...}", "/files/"},
		{"/files/{rest...}", "/files"},
		{"/", "/"},
		{"/a/", "/a/"},
		{"/{a}/{b}", "//"},
		{"/{x...}", ""},
		{"/a/{", "/a/b"},
		{"/{a}/{a}", "/x/y"},
		{"/x{y}", "/xy"},
		{"/{...}", "/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, src, path string) {
		p, err := compilePattern(src)
		_, cerr := Compile([]config.Route{r("p", m(pat(src)))}, nil)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("compilePattern error %v but Compile error %v", err, cerr)
		}
		if err != nil {
			return
		}
		if p.compare(p) != 0 {
			t.Fatalf("pattern %q is not equally specific to itself", src)
		}
		matched := p.match(path)
		params := p.params(path)
		if matched != (params != nil) {
			t.Fatalf("pattern %q path %q: match=%v but params=%v", src, path, matched, params)
		}
		if !strings.ContainsAny(src, "{}") && matched != (path == src) {
			t.Fatalf("literal pattern %q path %q: match=%v", src, path, matched)
		}
		if !matched {
			return
		}
		// Substituting the captures back into the pattern gives the path.
		var b strings.Builder
		for _, seg := range p.segs {
			b.WriteByte('/')
			switch seg.kind {
			case segLiteral:
				b.WriteString(seg.text)
			case segParam:
				v := params[seg.text]
				if v == "" || strings.Contains(v, "/") {
					t.Fatalf("pattern %q path %q: {%s} captured %q", src, path, seg.text, v)
				}
				b.WriteString(v)
			case segRest:
				b.WriteString(params[seg.text])
			}
		}
		if b.String() != path {
			t.Fatalf("pattern %q path %q: captures %v rebuild %q", src, path, params, b.String())
		}
	})
}

// fuzzRoutes is a non-ambiguous table exercising every tier, path kind and
// constraint, so that the fuzzer can compare Match with a reference.
func fuzzRoutes() []config.Route {
	return withIndex([]config.Route{
		r("exact-host", m(pfx("/api"), onHosts("a.example.com"))),
		r("exact-host-login", m(ex("/login"), onHosts("a.example.com", "*.other.org"), methods("POST"))),
		r("wild", m(pfx("/"), onHosts("*.example.com"))),
		r("wild-deep", m(pat("/u/{id}"), onHosts("*.b.example.com"))),
		r("wild-deep-env", m(pat("/u/{id}"), onHosts("*.b.example.com"), hdr("X-Env", "prod"))),
		r("users", m(pat("/users/{id}/files/{rest...}"))),
		r("users-me", m(pat("/users/me/files/{rest...}"))),
		r("user", m(pat("/users/{id}"))),
		r("api", m(pfx("/api"))),
		r("api-slash", m(pfx("/api/"), methods("GET", "HEAD"))),
		r("api-v1", m(pfx("/api/v1"))),
		r("api-v1-env", m(pfx("/api/v1"), present("X-Env"))),
		r("root", m(ex("/"))),
		r("get-any", m(anyPath, methods("GET"))),
		r("env-a", m(anyPath, present("X-A"))),
		r("env-b", m(anyPath, present("X-B"))),
	})
}

// referenceMatch is the precedence rules applied by brute force: every
// route that matches is ranked, and the best wins.
func referenceMatch(tab *Table, req *Request) *Route {
	type key struct{ tier, wildLen int }
	tierOf := func(rt *Route) (key, bool) {
		if len(rt.hosts) == 0 {
			return key{2, 0}, true
		}
		best, ok := key{3, 0}, false
		for _, h := range rt.hosts {
			var k key
			if s, wild := strings.CutPrefix(h, "*."); wild {
				label, found := strings.CutSuffix(req.Host, "."+s)
				if !found || label == "" {
					continue
				}
				k = key{1, -len(s)}
			} else if h == req.Host {
				k = key{0, 0}
			} else {
				continue
			}
			if !ok || k.tier < best.tier || (k.tier == best.tier && k.wildLen < best.wildLen) {
				best, ok = k, true
			}
		}
		return best, ok
	}
	var best *Route
	var bestKey key
	for _, rt := range tab.routes {
		k, ok := tierOf(rt)
		if !ok || !rt.path.match(req.Path) || !rt.matchConstraints(req) {
			continue
		}
		if best == nil || k.tier < bestKey.tier || (k.tier == bestKey.tier && k.wildLen < bestKey.wildLen) ||
			(k == bestKey && comparePrecedence(rt, best) < 0) {
			best, bestKey = rt, k
		}
	}
	return best
}

func FuzzMatch(f *testing.F) {
	tab, err := Compile(fuzzRoutes(), nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][4]string{
		{"a.example.com", "/api/x", "GET", ""},
		{"a.example.com", "/login", "POST", ""},
		{"x.other.org", "/login", "POST", ""},
		{"x.b.example.com", "/u/1", "GET", "prod"},
		{"x.b.example.com", "/u/1/2", "GET", "prod"},
		{"example.com", "/users/me/files/", "GET", ""},
		{"example.com", "/api/v1/", "PUT", "dev"},
		{"example.com", "/api/", "HEAD", ""},
		{"example.com", "/", "DELETE", ""},
		{"", "", "", ""},
		{".example.com", "api", "GET", ""},
		{"..example.com", "//", "GET", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, host, path, method, env string) {
		h := http.Header{}
		if env != "" {
			h.Set("X-Env", env)
			if env[0]%2 == 0 {
				h.Set("X-A", "1")
			}
			if env[0]%3 == 0 {
				h.Set("X-B", "1")
			}
		}
		rq := &Request{Host: host, Path: path, Method: method, Header: h}
		got := tab.Match(rq)
		want := referenceMatch(tab, rq)
		if got != want {
			t.Fatalf("Match(%q %q %q env %q) = %s, reference = %s", host, path, method, env, name(got), name(want))
		}
		e := tab.Explain(rq)
		if e.Matched != got {
			t.Fatalf("Explain matched %s, Match %s", name(e.Matched), name(got))
		}
		if len(e.Steps) != len(tab.routes) {
			t.Fatalf("Explain has %d steps for %d routes", len(e.Steps), len(tab.routes))
		}
		_ = e.String()
	})
}
