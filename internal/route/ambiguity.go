package route

import (
	"cmp"
	"slices"

	"github.com/edgegate/edgegate/internal/config"
)

// ambiguities reports every pair of routes that can match the same request
// while precedence rules 1-3 do not order them. Overlap is decided
// conservatively (only when certain) but precisely:
//
//   - host: the routes share a host entry (the same exact host or the same
//     wildcard), or neither has hosts; different entries are different
//     tiers, which rule 1 orders;
//   - path: the same kind and the same path (patterns: the same segments up
//     to wildcard names; equally specific patterns that differ in a literal
//     never match a common path);
//   - constraints: rule 3 ranks them equal, their method sets intersect
//     (no methods means all) and their header matchers are the same set.
//
// Routes are grouped by host entry and path first, so only routes that
// already collide there are compared pairwise. Each pair is reported once,
// at the later route (whose index the result carries), in file order.
func ambiguities(routes []*Route, pos *config.Positions) []ambiguity {
	type pair struct{ earlier, later *Route }
	groups := make(map[string][]*Route)
	var order []string // group keys in first-seen order, for determinism
	for _, r := range routes {
		pk := pathKey(&r.path)
		hosts := uniq(r.hosts)
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		for _, h := range hosts {
			k := h + "\x00" + pk
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], r)
		}
	}
	seen := make(map[pair]bool)
	var pairs []pair
	for _, k := range order {
		g := groups[k]
		for j := 1; j < len(g); j++ {
			for i := 0; i < j; i++ {
				a, b := g[i], g[j]
				p := pair{a, b}
				if seen[p] || !constraintsOverlap(a, b) {
					continue
				}
				seen[p] = true
				pairs = append(pairs, p)
			}
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := cmp.Compare(x.later.index, y.later.index); c != 0 {
			return c
		}
		return cmp.Compare(x.earlier.index, y.earlier.index)
	})
	var out []ambiguity
	for _, p := range pairs {
		out = append(out, ambiguity{p.later.index, pos.Errorf(p.later.fieldPath+".match",
			"route %q overlaps route %q (%s) and neither is more specific; make one more specific or merge them",
			p.later.name, p.earlier.name, p.earlier.location)})
	}
	return out
}

// ambiguity is one overlap error, reported at the route with index.
type ambiguity struct {
	index int
	err   *config.Error
}

// pathKey is equal for two path matchers exactly when they match the same
// set of paths with the same precedence.
func pathKey(m *pathMatcher) string {
	switch m.kind {
	case config.PathExact:
		return "exact:" + m.path
	case config.PathPrefix:
		return "prefix:" + m.path
	case config.PathPattern:
		return "pattern:" + m.pat.key
	}
	return "any"
}

// constraintsOverlap reports whether two routes with the same host entry and
// path are tied by rule 3 and can both match one request.
func constraintsOverlap(a, b *Route) bool {
	if compareConstraints(a, b) != 0 {
		return false
	}
	if len(a.methods) > 0 && len(b.methods) > 0 && !intersects(a.methods, b.methods) {
		return false
	}
	return sameHeaderSet(a.headers, b.headers)
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func sameHeaderSet(a, b []config.HeaderMatch) bool {
	norm := func(hs []config.HeaderMatch) []config.HeaderMatch {
		out := slices.Clone(hs)
		for i := range out {
			if out[i].Present {
				out[i].Value = "" // a presence matcher ignores any value
			}
		}
		slices.SortFunc(out, func(x, y config.HeaderMatch) int {
			if c := cmp.Compare(x.Name, y.Name); c != 0 {
				return c
			}
			if c := boolCmp(x.Present, y.Present); c != 0 {
				return c
			}
			return cmp.Compare(x.Value, y.Value)
		})
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}
