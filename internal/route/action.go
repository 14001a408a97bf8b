package route

import (
	"net/http"
	"path"
	"strings"

	"github.com/edgegate/edgegate/internal/config"
)

// RewritePath returns the path to send to the origin: the route's
// strip_prefix removed (at a segment boundary) and replace_prefix put in
// its place, then normalized (no "//", no dot segments, "/" when empty; a
// trailing slash is kept). A path that does not start with strip_prefix is
// only normalized. Without a rewrite it returns path unchanged.
func (r *Route) RewritePath(p string) string {
	rw := r.Config.Rewrite
	if rw == nil {
		return p
	}
	return rewritePath(p, rw.StripPrefix, rw.ReplacePrefix)
}

func rewritePath(p, strip, replace string) string {
	if strip != "" && !hasPrefixAtBoundary(p, strip) {
		return cleanPath(p)
	}
	rest := p[len(strip):]
	var out string
	switch {
	case rest == "":
		out = replace
	case rest[0] == '/':
		out = strings.TrimRight(replace, "/") + rest
	default: // strip ended with '/'
		out = strings.TrimRight(replace, "/") + "/" + rest
	}
	return cleanPath(out)
}

// cleanPath normalizes p like hygiene does for requests, keeping a trailing
// slash, and returns p itself (no allocation) when it is already clean.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	if !needsClean(p) {
		return p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

func needsClean(p string) bool {
	return strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
		strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
}

// Redirect returns the redirect answer for a request path and its raw
// query. A route with a redirect map looks the path up exactly (paths are
// normalized on both sides; "/a" and "/a/" are different entries); a path
// the map does not list gets the route's `to` when it has one, and
// ok=false otherwise, so the request falls through to the route's pool (or
// 404). A route without a redirect returns ok=false.
//
// With keep_query and a non-empty rawQuery, the query is appended to the
// target with "?" (or "&" when the target already has a query), before any
// "#fragment" of the target.
func (r *Route) Redirect(p, rawQuery string) (location string, status int, ok bool) {
	rd := r.Config.Redirect
	if rd == nil {
		return "", 0, false
	}
	target, found := rd.Map[p]
	if !found {
		if rd.To == "" {
			return "", 0, false
		}
		target = rd.To
	}
	status = rd.Status
	if status == 0 {
		status = http.StatusFound
	}
	if rd.KeepQuery {
		target = appendQuery(target, rawQuery)
	}
	return target, status, true
}

func appendQuery(target, rawQuery string) string {
	if rawQuery == "" {
		return target
	}
	base, frag := target, ""
	if i := strings.IndexByte(target, '#'); i >= 0 {
		base, frag = target[:i], target[i:]
	}
	sep := "?"
	if i := strings.IndexByte(base, '?'); i >= 0 {
		sep = "&"
		if i == len(base)-1 || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	return base + sep + rawQuery + frag
}

// HeaderOps is a compiled set of header edits: Remove runs first, then Set,
// then Add. The zero value does nothing.
type HeaderOps struct {
	remove []string
	set    []config.Header
	add    []config.Header
}

// CompileHeaderOps canonicalizes the header names once, so Apply does not
// have to on every request.
func CompileHeaderOps(c config.HeaderOps) HeaderOps {
	var o HeaderOps
	for _, n := range c.Remove {
		o.remove = append(o.remove, http.CanonicalHeaderKey(n))
	}
	for _, h := range c.Set {
		o.set = append(o.set, config.Header{Name: http.CanonicalHeaderKey(h.Name), Value: h.Value})
	}
	for _, h := range c.Add {
		o.add = append(o.add, config.Header{Name: http.CanonicalHeaderKey(h.Name), Value: h.Value})
	}
	return o
}

// Empty reports whether Apply would change nothing.
func (o HeaderOps) Empty() bool {
	return len(o.remove) == 0 && len(o.set) == 0 && len(o.add) == 0
}

// Apply edits h in place: removes, then sets (replacing every value), then
// adds (keeping existing values). A nil h is left alone.
func (o HeaderOps) Apply(h http.Header) {
	if h == nil {
		return
	}
	for _, n := range o.remove {
		delete(h, n)
	}
	for _, s := range o.set {
		// A fresh slice per request: sharing one would let a later
		// handler's write through h[name][0] leak into other requests.
		h[s.Name] = []string{s.Value}
	}
	for _, a := range o.add {
		h[a.Name] = append(h[a.Name], a.Value)
	}
}
