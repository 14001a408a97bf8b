package route

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgegate/edgegate/internal/config"
)

// Explanation says how the table routed one request: for the
// `edgegate route` CLI and for debugging.
type Explanation struct {
	// Request is the request explained.
	Request Request
	// Matched is the route that serves the request, nil when none does;
	// always the same as Table.Match.
	Matched *Route
	// Steps has one entry per route: first the routes whose hosts admit
	// the request, in the order Match tries them (routes after the winner
	// say so), then the routes whose hosts do not, in file order.
	Steps []Step
}

// Step is the verdict on one route.
type Step struct {
	Route     string
	FieldPath string
	// Location is "file:line" of the route, or its field path.
	Location string
	Matched  bool
	// Reason says why the route was rejected (every failing constraint,
	// joined by "; "), or, for the matched route, what matched. Header
	// values are never shown: route matchers may hold shared secrets.
	Reason string
}

// Explain routes req like Match and records why each route did or did not
// match. It allocates freely; it is not for the request path.
func (t *Table) Explain(req *Request) Explanation {
	e := Explanation{}
	if req == nil || t == nil {
		return e
	}
	e.Request = *req
	seen := make(map[*Route]bool, len(t.routes))
	t.tiers(req.Host, func(tr *tier, entry string) {
		for _, r := range tr.all {
			if seen[r] {
				continue
			}
			seen[r] = true
			if e.Matched != nil {
				e.Steps = append(e.Steps, r.step(false, fmt.Sprintf("not reached: route %q matched first", e.Matched.name)))
				continue
			}
			if fails := r.failures(req); len(fails) > 0 {
				e.Steps = append(e.Steps, r.step(false, strings.Join(fails, "; ")))
				continue
			}
			e.Matched = r
			e.Steps = append(e.Steps, r.step(true, r.describe(req, entry)))
		}
	})
	for _, r := range t.routes {
		if seen[r] {
			continue
		}
		e.Steps = append(e.Steps, r.step(false, fmt.Sprintf("host %q not in [%s]", req.Host, strings.Join(r.hosts, ", "))))
	}
	return e
}

func (r *Route) step(matched bool, reason string) Step {
	return Step{Route: r.name, FieldPath: r.fieldPath, Location: r.location, Matched: matched, Reason: reason}
}

// failures lists every constraint other than the host that req fails.
func (r *Route) failures(req *Request) []string {
	var out []string
	if !r.path.match(req.Path) {
		out = append(out, r.path.explainMiss(req.Path))
	}
	if len(r.methods) > 0 && !slices.Contains(r.methods, req.Method) {
		out = append(out, fmt.Sprintf("method %s not in [%s]", req.Method, strings.Join(r.methods, ", ")))
	}
	for i := range r.headers {
		m := &r.headers[i]
		if headerMatches(m, req.Header) {
			continue
		}
		if len(req.Header[m.Name]) == 0 {
			out = append(out, fmt.Sprintf("header %s: missing", m.Name))
		} else {
			out = append(out, fmt.Sprintf("header %s: no value equals the configured one", m.Name))
		}
	}
	return out
}

func (m *pathMatcher) explainMiss(p string) string {
	switch m.kind {
	case config.PathExact:
		return fmt.Sprintf("path %s is not %s", p, m.path)
	case config.PathPrefix:
		if strings.HasPrefix(p, m.path) {
			return fmt.Sprintf("path %s does not start with prefix %s at a segment boundary", p, m.path)
		}
		return fmt.Sprintf("path %s does not start with prefix %s", p, m.path)
	case config.PathPattern:
		return fmt.Sprintf("path %s does not match pattern %s", p, m.path)
	}
	return "path " + p // unreachable: any path matches
}

// describe says what matched, e.g. "host *.example.com, prefix /api, method GET".
func (r *Route) describe(req *Request, entry string) string {
	var parts []string
	if entry == "" {
		parts = append(parts, "any host")
	} else {
		parts = append(parts, "host "+entry)
	}
	switch r.path.kind {
	case config.PathExact:
		parts = append(parts, "exact "+r.path.path)
	case config.PathPrefix:
		parts = append(parts, "prefix "+r.path.path)
	case config.PathPattern:
		s := "pattern " + r.path.path
		if params := r.Params(req.Path); len(params) > 0 {
			var kv []string
			for _, seg := range r.path.pat.segs {
				if seg.kind != segLiteral {
					kv = append(kv, fmt.Sprintf("%s=%q", seg.text, params[seg.text]))
				}
			}
			s += " (" + strings.Join(kv, ", ") + ")"
		}
		parts = append(parts, s)
	default:
		parts = append(parts, "any path")
	}
	if len(r.methods) > 0 {
		parts = append(parts, "method "+req.Method)
	} else {
		parts = append(parts, "any method")
	}
	for _, h := range r.headers {
		if h.Present {
			parts = append(parts, "header "+h.Name+" present")
		} else {
			parts = append(parts, "header "+h.Name+" matches")
		}
	}
	return strings.Join(parts, ", ")
}

// String renders the explanation for people: the verdict, then one line
// per route in the order the routes were considered. There is no final
// newline.
func (e Explanation) String() string {
	var b strings.Builder
	if e.Matched != nil {
		for _, s := range e.Steps {
			if s.Matched {
				fmt.Fprintf(&b, "route %q (%s): matched: %s\n", s.Route, s.Location, s.Reason)
			}
		}
	} else {
		fmt.Fprintf(&b, "no route matches: host %q, path %s, method %s\n", e.Request.Host, e.Request.Path, e.Request.Method)
	}
	for _, s := range e.Steps {
		verdict := s.Reason
		if s.Matched {
			verdict = "matched"
		}
		fmt.Fprintf(&b, "  route %q (%s): %s\n", s.Route, s.Location, verdict)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
