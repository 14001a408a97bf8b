package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The checks below answer "is this string well-formed?" with an error whose
// text says what is wrong and what is allowed; validate.go adds the field path.

// checkName accepts listener and route names: short, printable, no spaces,
// so they read well in logs and metric labels.
func checkName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > 100 {
		return fmt.Errorf("is %d characters long; at most 100 are allowed", len(s))
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return fmt.Errorf("invalid name %q: use letters, digits, \"_\", \"-\" and \".\"", s)
		}
	}
	return nil
}

// checkPoolName accepts [a-z0-9_-]+.
func checkPoolName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > 100 {
		return fmt.Errorf("is %d characters long; at most 100 are allowed", len(s))
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("invalid pool name %q: use lower-case letters, digits, \"_\" and \"-\"", s)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// checkHostname accepts a DNS name (letters, digits, "-", dots between
// labels of 1 to 63 characters). allowUnderscore admits "_", which some
// internal resolvers (container service names) use for origins.
func checkHostname(s string, allowUnderscore bool) error {
	if s == "" {
		return errors.New("empty host name")
	}
	if len(s) > 253 {
		return fmt.Errorf("host name %q is longer than 253 characters", s)
	}
	if strings.HasSuffix(s, ".") {
		return fmt.Errorf("host name %q ends with a dot; write it without the trailing dot", s)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return fmt.Errorf("host name %q has an empty label", s)
		}
		if len(label) > 63 {
			return fmt.Errorf("host name %q has a label longer than 63 characters", s)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host name %q has a label starting or ending with \"-\"", s)
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' && !(allowUnderscore && c == '_') {
				return fmt.Errorf("invalid host name %q: use letters, digits, \"-\" and dots", s)
			}
		}
	}
	return nil
}

// checkMatchHost checks one match.hosts entry, already lower-cased.
func checkMatchHost(h string) error {
	if h == "*" {
		return errors.New(`"*" alone is not a host pattern; omit hosts to match every host`)
	}
	name := h
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		name = rest
	}
	if strings.Contains(name, "*") {
		return fmt.Errorf("invalid host %q: \"*\" is only allowed as the whole first label, as in \"*.example.com\"", h)
	}
	if strings.HasPrefix(name, "[") || strings.Count(name, ":") > 1 {
		return fmt.Errorf("invalid host %q: IPv6 literals are not supported in hosts", h)
	}
	if _, _, err := net.SplitHostPort(name); err == nil {
		return fmt.Errorf("host %q has a port; hosts are compared without port, so write it without one", h)
	}
	return checkHostname(name, false)
}

// checkAddress accepts host:port with a numeric port 0..65535 (0 picks a
// free port) and an empty host, an IP address or a host name.
func checkAddress(s string) (host, port string, err error) {
	host, port, splitErr := net.SplitHostPort(s)
	if splitErr != nil {
		return "", "", fmt.Errorf("invalid address %q: want host:port, such as \"127.0.0.1:8080\", \":8080\" or \"[::1]:8080\"", s)
	}
	n, err := checkPort(port, true)
	if err != nil {
		return "", "", fmt.Errorf("invalid address %q: %w", s, err)
	}
	if host != "" {
		if _, ipErr := netip.ParseAddr(host); ipErr != nil {
			if err := checkHostname(host, false); err != nil {
				return "", "", fmt.Errorf("invalid address %q: %w", s, err)
			}
		}
	}
	return host, strconv.Itoa(n), nil
}

func checkPort(ps string, allowZero bool) (int, error) {
	lo := 1
	if allowZero {
		lo = 0
	}
	p, err := strconv.Atoi(ps)
	if err != nil || ps == "" || ps[0] < '0' || ps[0] > '9' || p < lo || p > 65535 {
		return 0, fmt.Errorf("port %q must be a number from %d to 65535", ps, lo)
	}
	return p, nil
}

// checkHostPort accepts a Host header value: a host name or IP address,
// optionally with a port.
func checkHostPort(s string) error {
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		if _, err := checkPort(p, false); err != nil {
			return fmt.Errorf("invalid host %q: %w", s, err)
		}
		host = h
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	return checkHostname(host, true)
}

// checkHeaderName accepts an HTTP field name without "_".
func checkHeaderName(s string) error {
	if s == "" {
		return errors.New("empty header name")
	}
	if !httpguts.ValidHeaderFieldName(s) {
		return fmt.Errorf("invalid header name %q: use a token (letters, digits and !#$%%&'*+-.^`|~, no spaces or \":\")", s)
	}
	if strings.Contains(s, "_") {
		return fmt.Errorf("header name %q contains \"_\", which edgegate rejects because servers disagree on whether \"_\" equals \"-\"; write %q",
			s, strings.ReplaceAll(s, "_", "-"))
	}
	return nil
}

// checkHeaderValue rejects what cannot be sent on the wire: CR, LF, NUL
// and other control characters except tab.
func checkHeaderValue(s string) error {
	if !httpguts.ValidHeaderFieldValue(s) {
		return fmt.Errorf("header value %q contains a control character (CR, LF, NUL and other control characters except tab are not allowed)", s)
	}
	return nil
}

// managedHeaders are framing and hop-by-hop headers the proxy sets itself;
// editing them would break message framing or invite request smuggling.
var managedHeaders = map[string]bool{
	"Host": true, "Connection": true, "Content-Length": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// checkPath accepts an absolute, normalized path: the form requests have
// after hygiene, so a route path that is not in it could never match.
func checkPath(p string) error {
	if p == "" {
		return errors.New(`must not be empty; a path starts with "/"`)
	}
	if p[0] != '/' {
		return fmt.Errorf("path %q must start with \"/\"", p)
	}
	for _, c := range []byte(p) {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("path %q contains a control character", p)
		}
	}
	if strings.ContainsAny(p, "?#") {
		return fmt.Errorf("path %q contains \"?\" or \"#\"; paths are matched without query or fragment", p)
	}
	if strings.Contains(p, "//") {
		return fmt.Errorf("path %q contains \"//\"; request paths are normalized (repeated slashes merged), so it could never match", p)
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("path %q contains a %q segment; request paths are normalized (dot segments removed), so it could never match", p, seg)
		}
	}
	return nil
}

// checkPattern checks path_pattern syntax after checkPath: "{name}"
// segments anywhere, "{name...}" only as the last segment.
func checkPattern(p string) error {
	segs := strings.Split(p[1:], "/")
	seen := make(map[string]bool)
	for i, seg := range segs {
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' || strings.Count(seg, "{") != 1 || strings.Count(seg, "}") != 1 {
			return fmt.Errorf("pattern %q: segment %q: a variable must fill a whole segment, as in \"/users/{id}\"", p, seg)
		}
		name := seg[1 : len(seg)-1]
		if rest, ok := strings.CutSuffix(name, "..."); ok {
			name = rest
			if i != len(segs)-1 {
				return fmt.Errorf("pattern %q: %q matches the rest of the path, so it must be the last segment", p, seg)
			}
		}
		if !validVarName(name) {
			return fmt.Errorf("pattern %q: invalid variable name %q: use letters, digits and \"_\", not starting with a digit", p, name)
		}
		if seen[name] {
			return fmt.Errorf("pattern %q: variable %q is used twice", p, name)
		}
		seen[name] = true
	}
	return nil
}

func validVarName(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '_' {
			return false
		}
	}
	return true
}

// checkRedirectTarget accepts an absolute http(s) URL or a path starting
// with a single "/".
func checkRedirectTarget(s string) error {
	if s == "" {
		return errors.New(`empty target; want an absolute http(s) URL or a path starting with "/"`)
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("target %q contains a space or control character; percent-encode it", s)
		}
	}
	if strings.HasPrefix(s, "//") {
		return fmt.Errorf("target %q starts with \"//\", which browsers read as another host; write the full https:// URL or a path with one leading \"/\"", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("invalid target %q: %v", s, err)
	}
	if s[0] == '/' {
		return nil
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("invalid target %q: want an absolute http(s) URL (\"https://example.com/new\") or a path starting with \"/\"", s)
	}
	if u.User != nil {
		return fmt.Errorf("target %q must not contain user info", u.Redacted())
	}
	return nil
}

// memberURL parses and normalizes a member URL: the port is filled in and
// a lone "/" path dropped. Messages never echo credentials.
func memberURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		return nil, fmt.Errorf("invalid member URL %q: missing scheme; write \"http://%s\" or \"https://%s\"", redactURL(s), redactURL(s), redactURL(s))
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid member URL %q: %v", redactURL(s), err)
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("member URL %q: scheme must be http or https", shown)
	case u.User != nil:
		return nil, fmt.Errorf("member URL %q must not contain user info (credentials); use request_headers to send an Authorization header", shown)
	case u.Host == "":
		return nil, fmt.Errorf("member URL %q has no host", shown)
	case u.Path != "" && u.Path != "/" || u.RawPath != "":
		return nil, fmt.Errorf("member URL %q must not have a path; the request's path is forwarded as is (use a route's rewrite.replace_prefix to add a prefix)", shown)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("member URL %q must not have a query", shown)
	case u.Fragment != "":
		return nil, fmt.Errorf("member URL %q must not have a fragment", shown)
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err != nil {
		if strings.Contains(host, "%") {
			return nil, fmt.Errorf("member URL %q: invalid host %q", shown, host)
		}
		if err := checkHostname(host, true); err != nil {
			return nil, fmt.Errorf("member URL %q: %w", shown, err)
		}
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return nil, fmt.Errorf("member URL %q has an empty port", shown)
		}
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	} else if _, err := checkPort(port, false); err != nil {
		return nil, fmt.Errorf("member URL %q: %w", shown, err)
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, port)}, nil
}

// redactURL hides anything that looks like user info in a URL that may not
// parse, so credentials never reach an error message.
func redactURL(s string) string {
	rest, scheme := s, ""
	if i := strings.Index(s, "://"); i >= 0 {
		scheme, rest = s[:i+3], s[i+3:]
	}
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		return scheme + "xxxxx@" + rest[i+1:]
	}
	return s
}
