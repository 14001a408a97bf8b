package cache

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// Directives is a parsed Cache-Control (or CDN-Cache-Control,
// Surrogate-Control) field. Durations are in seconds; -1 means absent.
// A directive whose value cannot be parsed is recorded as Invalid so the
// caller can treat the response as stale, as RFC 9111 §4.2.1 allows.
type Directives struct {
	MaxAge, SMaxAge                 int64
	MaxStale                        int64 // -1 absent; MaxStaleAny for a bare max-stale
	MinFresh                        int64
	StaleWhileRevalidate            int64
	StaleIfError                    int64
	NoStore, NoCache, Private       bool
	Public, MustRevalidate          bool
	ProxyRevalidate, MustUnderstand bool
	OnlyIfCached, NoTransform       bool
	Immutable                       bool
	// NoCacheFields and PrivateFields are the field names of the qualified
	// forms (no-cache="Set-Cookie"), lower-cased; the directive itself then
	// only strips those fields from the stored response.
	NoCacheFields, PrivateFields []string
	// Invalid is set when a freshness directive had a malformed value
	// (max-age=abc, max-age=-1, a repeated max-age with another value).
	Invalid bool
}

// MaxStaleAny is Directives.MaxStale for a bare max-stale (any staleness).
const MaxStaleAny = int64(1) << 40

// noDirectives is the parse of an absent field.
var noDirectives = Directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1, StaleWhileRevalidate: -1, StaleIfError: -1}

// ParseCacheControl parses every line of a Cache-Control style field. It
// never fails: unknown directives are ignored, malformed values mark the
// result Invalid (freshness directives) or are ignored (others).
func ParseCacheControl(lines []string) Directives {
	d := noDirectives
	for _, line := range lines {
		parseLine(&d, line, false)
	}
	return d
}

// ParseSurrogateControl parses Surrogate-Control, whose directives may
// carry a ";target" suffix.
func ParseSurrogateControl(lines []string) Directives {
	d := noDirectives
	for _, line := range lines {
		parseLine(&d, line, true)
	}
	return d
}

func parseLine(d *Directives, s string, targeted bool) {
	for len(s) > 0 {
		var item string
		item, s = nextItem(s)
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if targeted {
			// Surrogate-Control: "max-age=60;edge" targets a device; this
			// single tier takes every target as its own.
			if i := strings.IndexByte(item, ';'); i >= 0 && !strings.Contains(item[:i], `"`) {
				item = item[:i]
			}
		}
		name, val, hasVal := strings.Cut(item, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		quoted := false
		if hasVal {
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = unquote(val[1 : len(val)-1])
				quoted = true
			}
		}
		switch name {
		case "max-age":
			setSeconds(d, &d.MaxAge, val, hasVal)
		case "s-maxage":
			setSeconds(d, &d.SMaxAge, val, hasVal)
		case "max-stale":
			if !hasVal {
				d.MaxStale = MaxStaleAny
			} else if n, ok := deltaSeconds(val); ok {
				d.MaxStale = n
			}
		case "min-fresh":
			if n, ok := deltaSeconds(val); ok && hasVal {
				d.MinFresh = n
			}
		case "stale-while-revalidate":
			if n, ok := deltaSeconds(val); ok && hasVal {
				d.StaleWhileRevalidate = n
			}
		case "stale-if-error":
			if n, ok := deltaSeconds(val); ok && hasVal {
				d.StaleIfError = n
			}
		case "no-store":
			d.NoStore = true
		case "no-cache":
			if hasVal && quoted || hasVal && val != "" {
				d.NoCacheFields = appendFields(d.NoCacheFields, val)
			} else {
				d.NoCache = true
			}
		case "private":
			if hasVal && val != "" {
				d.PrivateFields = appendFields(d.PrivateFields, val)
			} else {
				d.Private = true
			}
		case "public":
			d.Public = true
		case "must-revalidate":
			d.MustRevalidate = true
		case "proxy-revalidate":
			d.ProxyRevalidate = true
		case "must-understand":
			d.MustUnderstand = true
		case "only-if-cached":
			d.OnlyIfCached = true
		case "no-transform":
			d.NoTransform = true
		case "immutable":
			d.Immutable = true
		}
	}
}

// nextItem splits off one comma-separated item, keeping commas inside a
// quoted string (no-cache="a, b").
func nextItem(s string) (item, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func appendFields(dst []string, list string) []string {
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			dst = append(dst, textproto.CanonicalMIMEHeaderKey(f))
		}
	}
	return dst
}

// setSeconds records a freshness directive. A second occurrence with a
// different value, or a malformed value, makes the result Invalid: the
// response is then treated as stale (RFC 9111 §4.2.1).
func setSeconds(d *Directives, dst *int64, val string, hasVal bool) {
	n, ok := deltaSeconds(val)
	if !hasVal || !ok {
		d.Invalid = true
		return
	}
	if *dst >= 0 && *dst != n {
		d.Invalid = true
		if n < *dst {
			*dst = n
		}
		return
	}
	*dst = n
}

// deltaSeconds parses delta-seconds (RFC 9111 §1.2.2): digits only; values
// too large saturate at 2^31.
func deltaSeconds(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > 1<<31 {
		return 1 << 31, true
	}
	return n, true
}

// ParseAge parses an Age field. present is false when there is none; ok
// is false for a malformed one (not digits, a list, several lines), which
// makes the response stale: its age cannot be known.
func ParseAge(lines []string) (age int64, present, ok bool) {
	if len(lines) == 0 {
		return 0, false, false
	}
	if len(lines) > 1 {
		return 0, true, false
	}
	age, ok = deltaSeconds(strings.TrimSpace(lines[0]))
	return age, true, ok
}

// ParseHTTPDate parses an HTTP-date in any of the three formats; ok is
// false for anything else (an invalid Expires means "already expired").
func ParseHTTPDate(lines []string) (t int64, ok bool) {
	if len(lines) != 1 {
		return 0, false
	}
	tm, err := http.ParseTime(strings.TrimSpace(lines[0]))
	if err != nil {
		return 0, false
	}
	return tm.Unix(), true
}

// ParseVary returns the lower-cased field names of Vary lines, and star
// when "*" is among them (such a response never matches a later request).
func ParseVary(lines []string) (names []string, star bool) {
	for _, line := range lines {
		for _, f := range strings.Split(line, ",") {
			f = strings.TrimSpace(f)
			switch {
			case f == "":
			case f == "*":
				star = true
			case validToken(f):
				names = append(names, strings.ToLower(f))
			default:
				// A malformed name cannot be matched reliably.
				star = true
			}
		}
	}
	return names, star
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
