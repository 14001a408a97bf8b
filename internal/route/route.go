// Package route compiles the configured routes into an immutable lookup
// table and decides, for every request, which single route serves it.
//
// The table is built once per configuration snapshot (Compile) and then only
// read, so one *Table can serve any number of goroutines. Matching is on the
// request as normalized by package hygiene: a lower-case host without port
// and a clean absolute path. Precedence is fixed and documented in
// docs/routing.md:
//
//  1. host tier: exact host, then wildcard hosts (longest suffix first),
//     then routes without a host constraint;
//  2. within a tier, path: exact, then pattern, then prefix (longest
//     first), then any path;
//  3. then the route with more constraints (methods given, then more
//     header matchers).
//
// Two routes that can match the same request and are not ordered by these
// rules make Compile fail, naming both, instead of one silently shadowing
// the other.
package route

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/edgegate/edgegate/internal/config"
)

// Request is what the router sees: already normalized by package hygiene.
type Request struct {
	// Host is lower-case, without port.
	Host string
	// Path is the normalized absolute path ("/a/b"), never empty.
	Path   string
	Method string
	Header http.Header
}

// Route is one compiled route. It is immutable after Compile.
type Route struct {
	// Config is the validated route this was compiled from; read only.
	Config *config.Route

	name      string
	fieldPath string
	// location is "file:line" of the route, for messages naming it.
	location string
	// index is the position in the routes slice: the last tie-break.
	index int

	hosts   []string
	path    pathMatcher
	methods []string
	headers []config.HeaderMatch

	requestOps  HeaderOps
	responseOps HeaderOps
}

// Name returns the configured route name.
func (r *Route) Name() string { return r.name }

// FieldPath returns the route's field path in the configuration ("routes[3]").
func (r *Route) FieldPath() string { return r.fieldPath }

// Location returns where the route stands in the configuration file
// ("edgegate.yaml:12"), or its field path when the position is unknown.
func (r *Route) Location() string { return r.location }

// RequestHeaders returns the compiled request header operations.
func (r *Route) RequestHeaders() HeaderOps { return r.requestOps }

// ResponseHeaders returns the compiled response header operations.
func (r *Route) ResponseHeaders() HeaderOps { return r.responseOps }

// Params returns the values captured by the route's path pattern for path,
// keyed by wildcard name. It is nil when the route has no pattern or the
// pattern does not match path. It allocates, so it is meant for the CLI and
// for features that need captures, not for plain routing.
func (r *Route) Params(path string) map[string]string {
	if r.path.kind != config.PathPattern {
		return nil
	}
	return r.path.pat.params(path)
}

// matchRest reports whether req satisfies every constraint of r except the
// host, which the table's tier lookup has already settled.
func (r *Route) matchRest(req *Request) bool {
	return r.path.match(req.Path) && r.matchConstraints(req)
}

// matchConstraints checks methods and headers; it does not allocate.
func (r *Route) matchConstraints(req *Request) bool {
	if len(r.methods) > 0 && !slices.Contains(r.methods, req.Method) {
		return false
	}
	for i := range r.headers {
		if !headerMatches(&r.headers[i], req.Header) {
			return false
		}
	}
	return true
}

func headerMatches(m *config.HeaderMatch, h http.Header) bool {
	// Direct map access: names are canonical already, and Header.Values
	// would canonicalize again on every request.
	vals := h[m.Name]
	if m.Present {
		return len(vals) > 0
	}
	return slices.Contains(vals, m.Value)
}

// Table is the compiled, immutable set of routes of one configuration.
type Table struct {
	routes []*Route
	// exact holds the tier of each exact host.
	exact map[string]*tier
	// wild holds the tier of each wildcard host, keyed by the suffix after
	// "*." ("example.com" for "*.example.com").
	wild map[string]*tier
	// anyHost is the tier of routes without a host constraint.
	anyHost *tier
}

// tier is every route competing for one host entry, in precedence order,
// plus indexes over the same routes so that Match does not scan them all.
// Every index list keeps the order of all, so the indexed lookup and a
// linear scan of all always agree (FuzzMatch checks this).
type tier struct {
	all      []*Route
	exact    map[string][]*Route
	patterns []*Route
	prefixes map[string][]*Route
	// maxPrefix is the length of the longest prefix, so match skips
	// lookups that cannot hit.
	maxPrefix int
	anyPath   []*Route
}

func (t *tier) add(r *Route) { t.all = append(t.all, r) }

// build sorts the tier and fills the indexes.
func (t *tier) build() {
	slices.SortStableFunc(t.all, comparePrecedence)
	for _, r := range t.all {
		switch r.path.kind {
		case config.PathExact:
			if t.exact == nil {
				t.exact = make(map[string][]*Route)
			}
			t.exact[r.path.path] = append(t.exact[r.path.path], r)
		case config.PathPattern:
			t.patterns = append(t.patterns, r)
		case config.PathPrefix:
			if t.prefixes == nil {
				t.prefixes = make(map[string][]*Route)
			}
			t.prefixes[r.path.path] = append(t.prefixes[r.path.path], r)
			t.maxPrefix = max(t.maxPrefix, len(r.path.path))
		default:
			t.anyPath = append(t.anyPath, r)
		}
	}
}

// match returns the first route of the tier, in precedence order, that
// matches req. It does not allocate.
func (t *tier) match(req *Request) *Route {
	p := req.Path
	if r := firstConstrained(t.exact[p], req); r != nil {
		return r
	}
	for _, r := range t.patterns {
		if r.path.pat.match(p) && r.matchConstraints(req) {
			return r
		}
	}
	if len(t.prefixes) > 0 {
		// Every prefix that can match p is p itself or ends at a '/' of p
		// (with or without that slash); try them longest first.
		if len(p) <= t.maxPrefix {
			if r := firstConstrained(t.prefixes[p], req); r != nil {
				return r
			}
		}
		for i := min(len(p)-1, t.maxPrefix); i >= 0; i-- {
			if p[i] != '/' {
				continue
			}
			if i+1 < len(p) && i+1 <= t.maxPrefix {
				if r := firstConstrained(t.prefixes[p[:i+1]], req); r != nil {
					return r
				}
			}
			if i > 0 {
				if r := firstConstrained(t.prefixes[p[:i]], req); r != nil {
					return r
				}
			}
		}
	}
	return firstConstrained(t.anyPath, req)
}

func firstConstrained(list []*Route, req *Request) *Route {
	for _, r := range list {
		if r.matchConstraints(req) {
			return r
		}
	}
	return nil
}

// tiers calls fn for each tier that host selects, in precedence order,
// with the host entry that selected it ("" for the no-host tier). Match
// walks the same tiers inline, to stay free of allocations.
func (t *Table) tiers(host string, fn func(tr *tier, entry string)) {
	if tr := t.exact[host]; tr != nil {
		fn(tr, host)
	}
	// Scanning dots left to right yields the longest suffix first; a dot
	// at 0 would leave an empty first label, which never matches.
	for i := 1; i < len(host) && len(t.wild) > 0; i++ {
		if host[i] != '.' {
			continue
		}
		if tr := t.wild[host[i+1:]]; tr != nil {
			fn(tr, "*."+host[i+1:])
		}
	}
	if t.anyHost != nil {
		fn(t.anyHost, "")
	}
}

// Match returns the route that serves req, or nil when none matches. It
// does not allocate.
func (t *Table) Match(req *Request) *Route {
	if t == nil || req == nil {
		return nil
	}
	host := req.Host
	if tr := t.exact[host]; tr != nil {
		if r := tr.match(req); r != nil {
			return r
		}
	}
	if len(t.wild) > 0 {
		for i := 1; i < len(host); i++ {
			if host[i] != '.' {
				continue
			}
			if tr := t.wild[host[i+1:]]; tr != nil {
				if r := tr.match(req); r != nil {
					return r
				}
			}
		}
	}
	if t.anyHost != nil {
		return t.anyHost.match(req)
	}
	return nil
}

// Routes returns every route in configuration file order. The slice is a
// copy; the routes are shared and must not be modified.
func (t *Table) Routes() []*Route {
	if t == nil {
		return nil
	}
	return slices.Clone(t.routes)
}

// Compile builds the routing table. Errors are a config.ErrorList holding
// every problem found, each positioned with pos (which may be nil): a
// malformed match (Compile re-checks what it relies on rather than trust
// its input) and every pair of ambiguous routes.
func Compile(routes []config.Route, pos *config.Positions) (*Table, error) {
	t := &Table{
		routes: make([]*Route, 0, len(routes)),
		exact:  make(map[string]*tier),
		wild:   make(map[string]*tier),
	}
	// Problems are collected per route so that the list comes out in file
	// order; the routes that compiled are checked for ambiguity even when
	// others did not, so one run reports every problem.
	perRoute := make([]config.ErrorList, len(routes))
	failed := false
	for i := range routes {
		r, rerrs := compileRoute(&routes[i], i, pos)
		perRoute[i] = rerrs
		failed = failed || len(rerrs) > 0
		if r != nil {
			t.routes = append(t.routes, r)
		}
	}
	for _, a := range ambiguities(t.routes, pos) {
		perRoute[a.index] = append(perRoute[a.index], a.err)
		failed = true
	}
	if failed {
		var errs config.ErrorList
		for _, l := range perRoute {
			errs = append(errs, l...)
		}
		return nil, errs
	}
	for _, r := range t.routes {
		if len(r.hosts) == 0 {
			if t.anyHost == nil {
				t.anyHost = &tier{}
			}
			t.anyHost.add(r)
			continue
		}
		for _, h := range uniq(r.hosts) {
			m, key := t.exact, h
			if suffix, ok := strings.CutPrefix(h, "*."); ok {
				m, key = t.wild, suffix
			}
			tr := m[key]
			if tr == nil {
				tr = &tier{}
				m[key] = tr
			}
			tr.add(r)
		}
	}
	for _, tr := range t.exact {
		tr.build()
	}
	for _, tr := range t.wild {
		tr.build()
	}
	if t.anyHost != nil {
		t.anyHost.build()
	}
	return t, nil
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// compileRoute compiles one route, or returns the problems that stop it.
func compileRoute(rc *config.Route, i int, pos *config.Positions) (*Route, config.ErrorList) {
	fp := rc.FieldPath
	if fp == "" {
		fp = fmt.Sprintf("routes[%d]", i)
	}
	r := &Route{
		Config:      rc,
		name:        rc.Name,
		fieldPath:   fp,
		location:    locate(pos, fp),
		index:       i,
		methods:     slices.Clone(rc.Match.Methods),
		requestOps:  CompileHeaderOps(rc.RequestHeaders),
		responseOps: CompileHeaderOps(rc.ResponseHeaders),
	}
	var errs config.ErrorList
	for j, h := range rc.Match.Hosts {
		if err := checkHost(h); err != nil {
			errs = append(errs, pos.Errorf(fmt.Sprintf("%s.match.hosts[%d]", fp, j), "%v", err))
		}
	}
	r.hosts = slices.Clone(rc.Match.Hosts)
	pm, err := compilePath(rc.Match.PathKind, rc.Match.Path)
	if err != nil {
		errs = append(errs, pos.Errorf(fp+".match."+pathField(rc.Match.PathKind), "%v", err))
	}
	r.path = pm
	for _, h := range rc.Match.Headers {
		h.Name = http.CanonicalHeaderKey(h.Name)
		r.headers = append(r.headers, h)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// pathField names the YAML field a path kind comes from.
func pathField(k config.PathKind) string {
	switch k {
	case config.PathExact:
		return "path_exact"
	case config.PathPattern:
		return "path_pattern"
	case config.PathPrefix:
		return "path_prefix"
	}
	return "path"
}

// checkHost accepts "name" and "*.name" (a whole leading label only).
func checkHost(h string) error {
	rest, wild := strings.CutPrefix(h, "*.")
	switch {
	case rest == "":
		return fmt.Errorf("host %q is empty", h)
	case strings.Contains(rest, "*"):
		return fmt.Errorf("host %q: \"*.\" is allowed only as the whole first label", h)
	case wild && strings.HasPrefix(rest, "."):
		return fmt.Errorf("host %q has an empty label", h)
	case rest != strings.ToLower(rest):
		return fmt.Errorf("host %q must be lower-case", h)
	}
	return nil
}

// locate formats where fieldPath stands: "file:line", or fieldPath itself
// when the position is unknown.
func locate(pos *config.Positions, fieldPath string) string {
	if pos == nil {
		return fieldPath
	}
	p := pos.Lookup(fieldPath)
	if p.Line == 0 {
		return fieldPath
	}
	file := pos.File
	if file == "" {
		file = "<config>"
	}
	return fmt.Sprintf("%s:%d", file, p.Line)
}

// pathRank orders path kinds: exact, pattern, prefix, any.
func pathRank(k config.PathKind) int {
	switch k {
	case config.PathExact:
		return 0
	case config.PathPattern:
		return 1
	case config.PathPrefix:
		return 2
	}
	return 3
}

// comparePaths applies precedence rule 2; 0 means the paths are equally
// specific (which for two different exact paths, two different prefixes or
// two equally specific patterns means they never match the same path).
func comparePaths(a, b *pathMatcher) int {
	if c := cmp.Compare(pathRank(a.kind), pathRank(b.kind)); c != 0 {
		return c
	}
	switch a.kind {
	case config.PathPattern:
		return a.pat.compare(b.pat)
	case config.PathPrefix:
		return cmp.Compare(len(b.path), len(a.path)) // longer first
	}
	return 0
}

// compareConstraints applies precedence rule 3: a route that lists methods
// beats one that does not; then more header matchers beat fewer.
func compareConstraints(a, b *Route) int {
	if c := boolCmp(len(a.methods) > 0, len(b.methods) > 0); c != 0 {
		return c
	}
	return cmp.Compare(len(b.headers), len(a.headers))
}

// boolCmp sorts true before false.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// comparePrecedence is the full order within one host tier: rules 2 and 3,
// then file order for routes the ambiguity check has proven cannot both
// match (or that it deliberately leaves to file order, see docs).
func comparePrecedence(a, b *Route) int {
	if c := comparePaths(&a.path, &b.path); c != 0 {
		return c
	}
	if c := compareConstraints(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}
