package audit

import (
	"strings"

	"github.com/edgegate/edgegate/internal/identity"
)

// Events must never carry secrets, and the stages that build them are
// written to that rule. The trail still checks, because a trail is kept for
// years and copied to collectors: a token that slips into a Detail value by
// mistake would be impossible to take back. redact replaces anything that
// looks like a credential with its fingerprint.

// secretKeys are Detail keys whose values are secrets whatever they look like.
var secretKeys = []string{"token", "cookie", "secret", "password", "authorization", "credential", "session"}

// redactEvent returns e with secret-looking values replaced. It copies
// Detail and Roles only when it changes them, so the common case does not
// allocate.
func redactEvent(e *Event) (changed bool) {
	for _, p := range []*string{&e.RequestID, &e.Route, &e.ClientIP, &e.Method, &e.Host, &e.Path,
		&e.Subject, &e.Issuer, &e.Decision, &e.Reason, &e.Rule, &e.Fingerprint} {
		if v, ok := redactValue(*p); ok {
			*p, changed = v, true
		}
	}
	copied := false
	for i, r := range e.Roles {
		if v, ok := redactValue(r); ok {
			if !copied {
				e.Roles, copied = append([]string(nil), e.Roles...), true
			}
			e.Roles[i], changed = v, true
		}
	}
	var out map[string]string
	for k, v := range e.Detail {
		nv, ok := redactValue(v)
		if !ok && secretKey(k) && v != "" && !isFingerprint(v) {
			nv, ok = redacted(v), true
		}
		if ok {
			if out == nil {
				out = make(map[string]string, len(e.Detail))
				for k2, v2 := range e.Detail {
					out[k2] = v2
				}
			}
			out[k] = nv
		}
	}
	if out != nil {
		e.Detail, changed = out, true
	}
	return changed
}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// isFingerprint reports whether v already is a fingerprint (24 hex digits),
// which a key such as "token_fingerprint" legitimately holds.
func isFingerprint(v string) bool {
	if len(v) != 24 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func redacted(secret string) string { return "redacted:" + identity.Fingerprint(secret) }

// redactValue finds a JWT or JWS (three base64url parts, the first a JSON
// header "eyJ..."), a "Bearer"/"Basic" credential, or a cookie header value
// in v, and returns v with each replaced by its fingerprint.
func redactValue(v string) (string, bool) {
	if len(v) < 16 {
		return v, false
	}
	// Both schemes end in a space, and most values (routes, paths, rule
	// names, subjects) have none: one fast byte search skips the folded
	// comparisons for them.
	if strings.IndexByte(v, ' ') >= 0 {
		for _, scheme := range []string{"bearer ", "basic "} {
			if i := indexFold(v, scheme); i >= 0 {
				rest := strings.TrimLeft(v[i+len(scheme):], " ")
				end := strings.IndexAny(rest, " ,;\"")
				if end < 0 {
					end = len(rest)
				}
				if end >= 8 {
					return v[:i] + redacted(rest[:end]) + rest[end:], true
				}
			}
		}
	}
	if !strings.Contains(v, "eyJ") {
		return v, false
	}
	out, changed := v, false
	for {
		i := strings.Index(out, "eyJ")
		if i < 0 {
			return out, changed
		}
		j := i
		dots := 0
		for j < len(out) && (isB64URL(out[j]) || out[j] == '.') {
			if out[j] == '.' {
				dots++
			}
			j++
		}
		if dots >= 2 && j-i >= 20 {
			out = out[:i] + redacted(out[i:j]) + out[j:]
			changed = true
			continue
		}
		// Not a token: look past this "eyJ".
		rest, ok := redactValue(out[i+3:])
		return out[:i+3] + rest, changed || ok
	}
}

// indexFold is strings.Index(strings.ToLower(s), lower) for an ASCII
// pattern, without allocating a lowered copy of every value of every
// record. Non-ASCII bytes never match ASCII ones, so byte offsets agree.
func indexFold(s, lower string) int {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return i
		}
	}
	return -1
}

func isB64URL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '='
}
