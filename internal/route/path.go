package route

import (
	"errors"
	"fmt"
	"strings"

	"github.com/edgegate/edgegate/internal/config"
)

// pathMatcher is a compiled path constraint.
type pathMatcher struct {
	kind config.PathKind
	// path is the exact path, the prefix or the pattern source.
	path string
	// pat is set for PathPattern.
	pat *pattern
}

func compilePath(kind config.PathKind, path string) (pathMatcher, error) {
	pm := pathMatcher{kind: kind, path: path}
	switch kind {
	case config.PathAny:
		if path != "" {
			return pm, fmt.Errorf("path %q given without a path kind", path)
		}
	case config.PathExact, config.PathPrefix:
		if !strings.HasPrefix(path, "/") {
			return pm, fmt.Errorf("path %q must start with \"/\"", path)
		}
	case config.PathPattern:
		p, err := compilePattern(path)
		if err != nil {
			return pm, err
		}
		pm.pat = p
	default:
		return pm, fmt.Errorf("unknown path kind %q", kind)
	}
	return pm, nil
}

func (m *pathMatcher) match(path string) bool {
	switch m.kind {
	case config.PathExact:
		return path == m.path
	case config.PathPrefix:
		return hasPrefixAtBoundary(path, m.path)
	case config.PathPattern:
		return m.pat.match(path)
	}
	return true
}

// hasPrefixAtBoundary reports whether prefix covers path at a segment
// boundary: "/api" covers "/api", "/api/" and "/api/x" but not "/apix";
// "/api/" covers "/api/" and below but not "/api".
func hasPrefixAtBoundary(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}

// segKind is the kind of one pattern segment; the values are also the
// specificity ranks (lower is more specific).
type segKind uint8

const (
	segLiteral segKind = iota
	segParam           // {name}: exactly one non-empty segment
	segRest            // {name...}: the remainder, zero or more segments
)

type segment struct {
	kind segKind
	// text is the literal, or the wildcard name.
	text string
}

// pattern is a compiled path_pattern such as /users/{id}/files/{rest...}.
type pattern struct {
	source string
	segs   []segment
	// key identifies the set of paths the pattern matches: patterns with
	// the same key differ at most in wildcard names.
	key string
}

var errPatternStart = errors.New("must start with \"/\"")

// compilePattern parses a pattern with the syntax of Go 1.22 ServeMux
// wildcards: segments are literals, "{name}" or, last only, "{name...}".
func compilePattern(src string) (*pattern, error) {
	if !strings.HasPrefix(src, "/") {
		return nil, fmt.Errorf("pattern %q: %w", src, errPatternStart)
	}
	p := &pattern{source: src}
	parts := strings.Split(src[1:], "/")
	seen := make(map[string]bool)
	var key strings.Builder
	for i, part := range parts {
		last := i == len(parts)-1
		if part == "" && !last {
			return nil, fmt.Errorf("pattern %q: empty segment (\"//\")", src)
		}
		key.WriteByte('/')
		if !strings.ContainsAny(part, "{}") {
			p.segs = append(p.segs, segment{kind: segLiteral, text: part})
			key.WriteString(part)
			continue
		}
		if len(part) < 2 || part[0] != '{' || part[len(part)-1] != '}' {
			return nil, fmt.Errorf("pattern %q: segment %q: a wildcard must be a whole segment like {name}", src, part)
		}
		name := part[1 : len(part)-1]
		kind := segParam
		if n, ok := strings.CutSuffix(name, "..."); ok {
			if !last {
				return nil, fmt.Errorf("pattern %q: {%s} must be the last segment", src, name)
			}
			name, kind = n, segRest
		}
		if !validWildcardName(name) {
			return nil, fmt.Errorf("pattern %q: bad wildcard name %q (want [A-Za-z_][A-Za-z0-9_]*)", src, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("pattern %q: wildcard name %q used twice", src, name)
		}
		seen[name] = true
		p.segs = append(p.segs, segment{kind: kind, text: name})
		if kind == segRest {
			key.WriteString("{...}")
		} else {
			key.WriteString("{}")
		}
	}
	p.key = key.String()
	return p, nil
}

func validWildcardName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// match reports whether path matches; it does not allocate.
func (p *pattern) match(path string) bool {
	return p.walk(path, nil)
}

// params returns the captures for path, or nil when it does not match.
func (p *pattern) params(path string) map[string]string {
	m := make(map[string]string)
	if !p.walk(path, m) {
		return nil
	}
	return m
}

// walk matches path segment by segment, recording captures in m when m is
// not nil.
func (p *pattern) walk(path string, m map[string]string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	rest := path[1:]
	for i, seg := range p.segs {
		if seg.kind == segRest {
			if m != nil {
				m[seg.text] = rest
			}
			return true
		}
		s, tail, more := strings.Cut(rest, "/")
		switch seg.kind {
		case segLiteral:
			if s != seg.text {
				return false
			}
		case segParam:
			if s == "" {
				return false
			}
			if m != nil {
				m[seg.text] = s
			}
		}
		if !more {
			return i == len(p.segs)-1
		}
		rest = tail
	}
	// The pattern is used up but the path goes on.
	return false
}

// compare orders patterns by specificity, segment by segment: a literal
// beats {x}, which beats {x...}. When one pattern's ranks are a prefix of
// the other's, the longer one comes first (the two never match the same
// path). 0 means equally specific.
func (p *pattern) compare(q *pattern) int {
	n := min(len(p.segs), len(q.segs))
	for i := 0; i < n; i++ {
		if a, b := p.segs[i].kind, q.segs[i].kind; a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(p.segs) > len(q.segs):
		return -1
	case len(p.segs) < len(q.segs):
		return 1
	}
	return 0
}
