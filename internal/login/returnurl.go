package login

import (
	"net/url"
	"slices"
	"strings"
)

// SafeReturn decides where the browser may be sent after login or logout.
// It accepts a path on this gateway ("/app?x=1"), or an absolute http(s)
// URL whose host (with port, exact match) is host or one of allowed. It
// returns the cleaned target and true, or "/" and false.
//
// Every open-redirect form is refused: scheme-relative (//evil, ///evil),
// backslashes (/\evil, \\evil), control characters and whitespace anywhere,
// percent-encoded slashes, backslashes or controls, user info, other
// schemes (javascript:, data:), and hosts that only look alike.
func SafeReturn(raw, host string, allowed []string) (string, bool) {
	if raw == "" || len(raw) > 2048 {
		return "/", false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c < 0x21 || c == 0x7f || c == '\\' || c >= 0x80 {
			return "/", false
		}
	}
	// Encoded forms of the characters above, and of "/", are what the
	// advisories bypassed validators with: refuse them outright.
	lower := strings.ToLower(raw)
	for _, enc := range []string{"%2f", "%5c", "%00", "%09", "%0a", "%0b", "%0c", "%0d", "%20", "%7f", "%25"} {
		if strings.Contains(lower, enc) {
			return "/", false
		}
	}
	if raw[0] == '/' {
		if len(raw) > 1 && raw[1] == '/' {
			return "/", false
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
			return "/", false
		}
		return raw, true
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "/", false
	}
	if !strings.HasPrefix(raw[len(u.Scheme):], "://") {
		return "/", false
	}
	h := strings.ToLower(u.Host)
	if h != strings.ToLower(host) && !slices.Contains(allowed, h) {
		return "/", false
	}
	if u.Path != "" && (!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//")) {
		return "/", false
	}
	return u.String(), true
}
