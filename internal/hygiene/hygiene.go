// Package hygiene is the request hygiene that runs first on every request and
// cannot be turned off.
//
// It exists so that every later stage (routing, auth, policy, scripts, the
// proxy) and the origin see one unambiguous request: a single origin-form
// target with a normalized path, a validated Host, no client-supplied identity
// or forwarding headers the gateway does not trust, no h2c upgrade smuggling,
// and no ambiguous HTTP/1 framing. Each rule maps to a stable Code
// ("hygiene.<rule>") so operators can tell from a log line which rule fired.
//
// Three pieces work together:
//
//   - GuardListener / GuardConn / ConnContext see the raw HTTP/1 bytes, because
//     net/http silently drops Content-Length when Transfer-Encoding is present.
//   - Policy.CheckFraming turns what the guard saw into a decision per request.
//   - Policy.Sanitize checks and normalizes the parsed request in place.
//
// The proxy then uses SetForwarded and RemoveHopByHop on the outbound copy.
package hygiene

import (
	"net/http"
	"net/netip"
	"net/url"

	"github.com/edgegate/edgegate/internal/httperr"
	"golang.org/x/net/http/httpguts"
)

// Policy is the configurable part of hygiene. The zero value trusts no proxy
// and puts no limit on the request target. A Policy is read-only once in use
// and safe for concurrent use.
type Policy struct {
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed. Nobody else's are.
	TrustedProxies []netip.Prefix
	// MaxURIBytes bounds the raw request target; 0 means no limit.
	MaxURIBytes int
	// IdentityHeaders are extra header names that are always stripped from
	// clients, in addition to the built-in set (X-Forwarded-User,
	// X-Forwarded-Email, X-Forwarded-Groups, X-Forwarded-Preferred-Username,
	// X-Auth-Request-*, Edgegate-*, X-Edgegate-*). Matching ignores case and
	// treats '_' and '.' like '-'.
	IdentityHeaders []string
}

// Result is what Sanitize learned about an accepted request.
type Result struct {
	// ClientIP is the peer, or, when the peer is a trusted proxy, the
	// right-most X-Forwarded-For entry that is not a trusted proxy (the
	// left-most entry if all are trusted).
	ClientIP netip.Addr
	// Host is the request host, lower-case, without port, without a
	// trailing dot, and without brackets for an IPv6 literal.
	Host string
	// Path is the decoded, normalized path; r.URL.Path holds the same
	// string and r.URL.RawPath is empty, so the outbound request carries
	// exactly the path that routing and policy decided on.
	Path string
	// Scheme is "http" or "https": from the connection, or from
	// X-Forwarded-Proto when the peer is trusted.
	Scheme string

	// Peer is the address of the connection's remote end (4in6 unmapped).
	Peer netip.Addr
	// Trusted reports whether Peer is in Policy.TrustedProxies.
	Trusted bool
	// ForwardedFor is the X-Forwarded-For chain received from a trusted
	// peer (every entry validated), "" otherwise. SetForwarded appends
	// Peer to it.
	ForwardedFor string
}

// rule is one hygiene rule; its row in rules gives the status, Code and
// public message.
type rule uint8

const (
	ruleOK rule = iota
	ruleURITooLong
	ruleConnect
	ruleAsteriskForm
	ruleAbsoluteForm
	ruleTargetForm
	ruleFragment
	ruleBadPercent
	ruleEncodedSlash
	ruleEncodedBackslash
	ruleEncodedNUL
	ruleEncodedSemicolon
	ruleEncodedControl
	ruleBackslash
	rulePathChar
	ruleBadUTF8
	ruleTraversal
	ruleParamSegment
	ruleQueryChar
	ruleHostMissing
	ruleHostMultiple
	ruleHostInvalid
	ruleHostMismatch
	ruleHeaderUnderscore
	ruleHeaderName
	ruleHeaderValue
	ruleCLTE
	ruleXFF
	ruleFramingUnguarded
	ruleFramingUnknown
	ruleFramingOversize
	ruleH2ConnectionHeader
	numRules
)

type ruleInfo struct {
	status int
	code   string
	public string
}

// rules is a read-only table indexed by rule.
var rules = [numRules]ruleInfo{
	ruleOK:               {http.StatusOK, "", ""},
	ruleURITooLong:       {http.StatusRequestURITooLong, "hygiene.uri_too_long", "request target too long"},
	ruleConnect:          {http.StatusMethodNotAllowed, "hygiene.connect", "CONNECT is not supported"},
	ruleAsteriskForm:     {http.StatusBadRequest, "hygiene.asterisk_form", "asterisk-form request target is not supported"},
	ruleAbsoluteForm:     {http.StatusBadRequest, "hygiene.absolute_form", "absolute-form request target is not supported"},
	ruleTargetForm:       {http.StatusBadRequest, "hygiene.target_form", "request target must start with /"},
	ruleFragment:         {http.StatusBadRequest, "hygiene.fragment", "fragment in request target"},
	ruleBadPercent:       {http.StatusBadRequest, "hygiene.bad_percent", "invalid percent-encoding in path"},
	ruleEncodedSlash:     {http.StatusBadRequest, "hygiene.encoded_slash", "encoded slash in path"},
	ruleEncodedBackslash: {http.StatusBadRequest, "hygiene.encoded_backslash", "encoded backslash in path"},
	ruleEncodedNUL:       {http.StatusBadRequest, "hygiene.encoded_nul", "encoded NUL in path"},
	ruleEncodedSemicolon: {http.StatusBadRequest, "hygiene.encoded_semicolon", "encoded semicolon in path"},
	ruleEncodedControl:   {http.StatusBadRequest, "hygiene.encoded_control", "encoded control character in path"},
	ruleBackslash:        {http.StatusBadRequest, "hygiene.backslash", "backslash in path"},
	rulePathChar:         {http.StatusBadRequest, "hygiene.path_char", "control character or space in path"},
	ruleBadUTF8:          {http.StatusBadRequest, "hygiene.bad_utf8", "path is not valid UTF-8"},
	ruleTraversal:        {http.StatusBadRequest, "hygiene.path_traversal", "path escapes the root"},
	ruleParamSegment:     {http.StatusBadRequest, "hygiene.param_segment", "dot or empty path segment with parameters"},
	ruleQueryChar:        {http.StatusBadRequest, "hygiene.query_char", "control character or space in query"},
	ruleHostMissing:      {http.StatusBadRequest, "hygiene.host_missing", "missing Host"},
	ruleHostMultiple:     {http.StatusBadRequest, "hygiene.host_multiple", "more than one Host"},
	ruleHostInvalid:      {http.StatusBadRequest, "hygiene.host_invalid", "invalid Host"},
	ruleHostMismatch:     {http.StatusBadRequest, "hygiene.host_mismatch", "Host does not match :authority"},
	ruleHeaderUnderscore: {http.StatusBadRequest, "hygiene.header_underscore", "underscore in header name"},
	ruleHeaderName:       {http.StatusBadRequest, "hygiene.header_name", "invalid header name"},
	ruleHeaderValue:      {http.StatusBadRequest, "hygiene.header_value", "invalid header value"},
	ruleCLTE:             {http.StatusBadRequest, "hygiene.cl_te", "both Content-Length and Transfer-Encoding"},
	ruleXFF:              {http.StatusBadRequest, "hygiene.x_forwarded_for", "malformed X-Forwarded-For"},
	ruleFramingUnguarded: {http.StatusInternalServerError, "hygiene.framing_unguarded", "internal error"},
	ruleFramingUnknown:   {http.StatusBadRequest, "hygiene.framing_unknown", "request framing could not be verified"},
	ruleFramingOversize:  {http.StatusBadRequest, "hygiene.framing_oversize", "framing header value too long"},
	ruleH2ConnectionHeader: {http.StatusBadRequest, "hygiene.h2_connection_header",
		"connection-specific header in an HTTP/2 request"},
}

// Code returns the stable error code of r, for tests and docs.
func (r rule) Code() string { return rules[r].code }

// reject builds the error for rule ru. On HTTP/1 it asks for the connection
// to be closed: a pipelined request behind a refused one must not be served
// (security-tests.md §5).
func reject(ru rule, http1 bool) *httperr.Error {
	info := rules[ru]
	e := httperr.New(info.status, info.code, info.public, nil)
	if http1 {
		e.Header = http.Header{"Connection": {"close"}}
	}
	return e
}

// Sanitize checks and normalizes r in place. It returns an *httperr.Error
// (status 400 unless noted, Code "hygiene.<rule>") when the request must be
// refused. peer is the connection's remote address and tls whether the
// connection is TLS. r.RequestURI is left as received (CheckFraming and the
// access log rely on it); r.URL.Path, r.URL.RawPath, r.Host and r.Header are
// rewritten.
//
// Sanitize does not allocate for a typical clean request.
func (p *Policy) Sanitize(r *http.Request, peer netip.AddrPort, tls bool) (Result, *httperr.Error) {
	http1 := r.ProtoMajor < 2
	var res Result

	// Request target. r.RequestURI is the raw target as sent (HTTP/1) or
	// :path (HTTP/2); r.URL is Go's interpretation of it, which we never
	// trust on its own (Traefik CVE-2026-65600: opaque absolute-form).
	uri := r.RequestURI
	if p.MaxURIBytes > 0 && len(uri) > p.MaxURIBytes {
		return res, reject(ruleURITooLong, http1)
	}
	if r.Method == http.MethodConnect {
		return res, reject(ruleConnect, http1)
	}
	if uri == "" || uri[0] != '/' {
		switch {
		case uri == "*":
			return res, reject(ruleAsteriskForm, http1)
		case hasScheme(uri):
			return res, reject(ruleAbsoluteForm, http1)
		default:
			return res, reject(ruleTargetForm, http1)
		}
	}
	q := -1
	for i := 0; i < len(uri); i++ {
		switch uri[i] {
		case '#':
			// Envoy CVE-2021-32779, oauth2-proxy CVE-2026-41059.
			return res, reject(ruleFragment, http1)
		case '?':
			if q < 0 {
				q = i
			}
		}
	}
	rawPath, rawQuery := uri, ""
	if q >= 0 {
		rawPath, rawQuery = uri[:q], uri[q+1:]
	}
	for i := 0; i < len(rawQuery); i++ {
		if c := rawQuery[i]; c <= ' ' || c == 0x7f {
			return res, reject(ruleQueryChar, http1)
		}
	}
	if u := r.URL; u.Scheme != "" || u.Opaque != "" || u.Host != "" || u.User != nil || u.Fragment != "" {
		// Only hand-built requests get here: the target is origin-form,
		// so nothing but path and query may survive.
		*u = url.URL{Path: u.Path, RawQuery: rawQuery}
	}
	if r.URL.RawQuery != rawQuery {
		r.URL.RawQuery = rawQuery
	}
	clean, ru := cleanPath(rawPath)
	if ru != ruleOK {
		return res, reject(ru, http1)
	}
	if r.URL.Path != clean {
		r.URL.Path = clean
	}
	r.URL.RawPath = ""
	res.Path = clean

	// Host. HTTP/1 moved the one Host header into r.Host; HTTP/2 put
	// :authority there and may have left a Host header too, which must
	// agree (RFC 9113 §8.3.1).
	if hv, ok := r.Header["Host"]; ok {
		if len(hv) != 1 {
			return res, reject(ruleHostMultiple, http1)
		}
		if r.Host == "" {
			r.Host = hv[0]
		} else if !equalFoldASCII(hv[0], r.Host) {
			return res, reject(ruleHostMismatch, http1)
		}
		delete(r.Header, "Host")
	}
	name, hostport, ru := cleanHost(r.Host)
	if ru != ruleOK {
		return res, reject(ru, http1)
	}
	if hostport != r.Host {
		r.Host = hostport
	}
	res.Host = name

	// Peer and trust.
	res.Peer = peer.Addr().Unmap()
	res.Trusted = p.trusted(res.Peer)
	res.ClientIP = res.Peer
	res.Scheme = "http"
	if tls {
		res.Scheme = "https"
	}

	// Headers: one pass for validity and classification.
	var upgradeH2C bool
	connKey, connKeys := "", 0
	for k, vv := range r.Header {
		if ru := checkHeader(k, vv); ru != ruleOK {
			return res, reject(ru, http1)
		}
		switch p.classify(k) {
		case classIdentity, classHTTP2Settings:
			delete(r.Header, k)
		case classForwarded:
			switch {
			case res.Trusted && k == "X-Forwarded-For":
				chain, client, ok := p.parseXFF(vv)
				if !ok {
					return res, reject(ruleXFF, http1)
				}
				res.ForwardedFor = chain
				res.ClientIP = client
			case res.Trusted && k == "X-Forwarded-Proto":
				if len(vv) == 1 && equalFoldASCII(vv[0], "https") {
					res.Scheme = "https"
				} else if len(vv) == 1 && equalFoldASCII(vv[0], "http") {
					res.Scheme = "http"
				} else {
					delete(r.Header, k)
				}
			default:
				delete(r.Header, k)
			}
		case classUpgrade:
			if upgradeNamesH2C(vv) {
				upgradeH2C = true
				delete(r.Header, k)
			}
		case classConnection:
			connKey = k
			connKeys++
		}
	}
	if connKeys > 1 {
		connKey = "" // several spellings: let cleanConnection find them all
	}
	if connKeys > 0 {
		p.cleanConnection(r.Header, connKey, upgradeH2C)
	}

	// net/http drops Content-Length itself when Transfer-Encoding is
	// chunked on HTTP/1 (CheckFraming covers that); this catches the same
	// ambiguity in any request that still shows both.
	if _, cl := r.Header["Content-Length"]; cl {
		if _, te := r.Header["Transfer-Encoding"]; te || len(r.TransferEncoding) > 0 {
			return res, reject(ruleCLTE, http1)
		}
	}

	// HTTP/2 and HTTP/3 have no connection-specific headers: a request
	// carrying one is malformed (RFC 9113 §8.2.2), and passing it on to an
	// HTTP/1.1 origin is how h2-to-h1 smuggling starts. Go's HTTP/2 server
	// lets them through (h2spec 8.1.2.2), so refuse them here.
	if r.ProtoMajor >= 2 {
		for _, k := range h2ConnectionHeaders {
			if _, ok := r.Header[k]; ok {
				return res, reject(ruleH2ConnectionHeader, false)
			}
		}
		if te, ok := r.Header["Te"]; ok && (len(te) != 1 || !equalFoldASCII(te[0], "trailers")) {
			return res, reject(ruleH2ConnectionHeader, false)
		}
	}
	return res, nil
}

func (p *Policy) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, pf := range p.TrustedProxies {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// hasScheme reports whether s starts like an absolute URI ("scheme:").
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// checkHeader re-checks what net/http mostly checks already, because
// Sanitize may also see requests built by other code (HTTP/2, tests, hooks).
func checkHeader(k string, vv []string) rule {
	if k == "" {
		return ruleHeaderName
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '_' {
			// oauth2-proxy CVE-2025-64484: backends fold '_' into '-'.
			return ruleHeaderUnderscore
		}
		if !httpguts.IsTokenRune(rune(c)) {
			return ruleHeaderName
		}
	}
	for _, v := range vv {
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
				return ruleHeaderValue
			}
		}
	}
	return ruleOK
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// IsTrusted reports whether a is one of the trusted proxies, for stages
// that must decide before Sanitize runs (trace context extraction).
func (p *Policy) IsTrusted(a netip.Addr) bool { return p.trusted(a) }

// h2ConnectionHeaders may not appear in an HTTP/2 request (RFC 9113 §8.2.2).
var h2ConnectionHeaders = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade"}
