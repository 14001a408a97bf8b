package hygiene

import (
	"net/http"
	"net/netip"
	"strings"
)

// class is what a request header name means to hygiene.
type class uint8

const (
	classNone class = iota
	// classIdentity headers are owned by the gateway and always stripped.
	classIdentity
	// classForwarded headers describe earlier hops; only a trusted peer's
	// X-Forwarded-For and X-Forwarded-Proto survive.
	classForwarded
	classHTTP2Settings
	classUpgrade
	classConnection
)

// builtinClass maps normalized names (lower-case, '_' and '.' as '-') to
// their class. Read-only table.
var builtinClass = map[string]class{
	"x-forwarded-user":               classIdentity,
	"x-forwarded-email":              classIdentity,
	"x-forwarded-groups":             classIdentity,
	"x-forwarded-preferred-username": classIdentity,

	// Every x-forwarded-* is forwarded-class too (prefix rule below).
	"forwarded":                classForwarded,
	"x-real-ip":                classForwarded,
	"x-original-url":           classForwarded,
	"x-rewrite-url":            classForwarded,
	"x-original-uri":           classForwarded,
	"x-original-host":          classForwarded,
	"x-original-method":        classForwarded,
	"x-original-forwarded-for": classForwarded,
	"x-http-method-override":   classForwarded,
	"x-http-method":            classForwarded,
	"x-method-override":        classForwarded,
	"x-client-ip":              classForwarded,
	"true-client-ip":           classForwarded,
	"x-cluster-client-ip":      classForwarded,
	"x-host":                   classForwarded,
	"cf-connecting-ip":         classForwarded,
	"fastly-client-ip":         classForwarded,
	"x-proxyuser-ip":           classForwarded,

	"http2-settings": classHTTP2Settings,
	"upgrade":        classUpgrade,
	"connection":     classConnection,
}

// builtinLens has bit n set when some builtinClass name is n bytes long, and
// builtinFirst bit c when some name starts with byte c ('a'..'z' as 0..25,
// others share bit 26): a cheap filter before hashing, since nearly every
// real header misses the table.
var builtinLens, builtinFirst = builtinFilter()

func builtinFilter() (lens, first uint64) {
	for k := range builtinClass {
		lens |= 1 << len(k)
		first |= 1 << firstBit(k[0])
	}
	return lens, first
}

func firstBit(c byte) uint {
	if 'a' <= c && c <= 'z' {
		return uint(c - 'a')
	}
	return 26
}

// Prefixes of the gateway-owned namespace and of the forwarding family.
var (
	identityPrefixes  = [...]string{"x-auth-request-", "x-edgegate-", "edgegate-"}
	forwardedPrefixes = [...]string{"x-forwarded-"}
)

// normByte is the header-name normalization backends apply when they fold
// names (oauth2-proxy CVE-2025-64484, Caddy GHSA-f59h-q822-g45g).
func normByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_' || c == '.':
		return '-'
	}
	return c
}

// hasPrefixNorm reports whether normalized k starts with the already
// normalized prefix.
func hasPrefixNorm(k, prefix string) bool {
	if len(k) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if normByte(k[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// SameHeaderName reports whether a and b name the same header for a
// backend that folds names: case ignored, '_' and '.' read as '-'. Stages
// that remove a configured identity header from an outbound copy use it,
// so a spelling such as X.My.Assertion cannot slip past them.
func SameHeaderName(a, b string) bool { return equalNorm(a, b) }

func equalNorm(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if normByte(a[i]) != normByte(b[i]) {
			return false
		}
	}
	return true
}

// classify returns the class of header name k without allocating.
func (p *Policy) classify(k string) class {
	switch k { // the canonical spellings, without normalizing
	case "Upgrade":
		return classUpgrade
	case "Connection":
		return classConnection
	}
	var buf [40]byte // longer than every built-in name
	if len(k) <= len(buf) && builtinLens&(1<<len(k)) != 0 && builtinFirst&(1<<firstBit(normByte(k[0]))) != 0 {
		for i := 0; i < len(k); i++ {
			buf[i] = normByte(k[i])
		}
		if c, ok := builtinClass[string(buf[:len(k)])]; ok {
			return c
		}
	}
	for _, pre := range identityPrefixes {
		if hasPrefixNorm(k, pre) {
			return classIdentity
		}
	}
	for _, id := range p.IdentityHeaders {
		if equalNorm(k, id) {
			return classIdentity
		}
	}
	for _, pre := range forwardedPrefixes {
		if hasPrefixNorm(k, pre) {
			return classForwarded
		}
	}
	return classNone
}

// nextToken splits a comma-separated list: it returns the first element
// with optional whitespace trimmed and the rest after the comma.
func nextToken(s string) (tok, rest string) {
	if i := strings.IndexByte(s, ','); i >= 0 {
		tok, rest = s[:i], s[i+1:]
	} else {
		tok = s
	}
	return strings.Trim(tok, " \t"), rest
}

// upgradeNamesH2C reports whether an Upgrade header asks for HTTP/2 in any
// spelling: h2c, h2, HTTP/2.x (golang/go#80416).
func upgradeNamesH2C(vv []string) bool {
	for _, v := range vv {
		for rest := v; rest != ""; {
			var tok string
			tok, rest = nextToken(rest)
			name, version, _ := strings.Cut(tok, "/")
			switch {
			case equalFoldASCII(name, "h2c"), equalFoldASCII(name, "h2"):
				return true
			case equalFoldASCII(name, "http") && strings.HasPrefix(version, "2"):
				return true
			}
		}
	}
	return false
}

// dropConnectionToken reports whether a Connection token must go: the h2c
// upgrade tokens, "upgrade" once Upgrade was removed, and any name of a
// gateway-owned or forwarding header, which a later hop-by-hop pass would
// otherwise delete after the gateway set it (golang/go#50580 class).
func (p *Policy) dropConnectionToken(tok string, upgradeRemoved bool) bool {
	if equalFoldASCII(tok, "h2c") || upgradeRemoved && equalFoldASCII(tok, "upgrade") {
		return true
	}
	switch p.classify(tok) {
	case classIdentity, classForwarded, classHTTP2Settings:
		return true
	}
	return false
}

// cleanConnection rewrites the Connection header(s) of h without the tokens
// dropConnectionToken rejects. key is the one Connection key Sanitize saw,
// or "" to look for every spelling. It allocates only when something is
// dropped.
func (p *Policy) cleanConnection(h http.Header, key string, upgradeRemoved bool) {
	if key != "" {
		p.cleanConnectionKey(h, key, upgradeRemoved)
		return
	}
	for k := range h {
		if p.classify(k) == classConnection {
			p.cleanConnectionKey(h, k, upgradeRemoved)
		}
	}
}

func (p *Policy) cleanConnectionKey(h http.Header, k string, upgradeRemoved bool) {
	vv := h[k]
	{
		drop := false
		for _, v := range vv {
			for rest := v; rest != "" && !drop; {
				var tok string
				tok, rest = nextToken(rest)
				drop = p.dropConnectionToken(tok, upgradeRemoved)
			}
		}
		if !drop {
			return
		}
		var b strings.Builder
		for _, v := range vv {
			for rest := v; rest != ""; {
				var tok string
				tok, rest = nextToken(rest)
				if tok == "" || p.dropConnectionToken(tok, upgradeRemoved) {
					continue
				}
				if b.Len() > 0 {
					b.WriteString(", ")
				}
				b.WriteString(tok)
			}
		}
		if b.Len() == 0 {
			delete(h, k)
		} else {
			h[k] = []string{b.String()}
		}
	}
}

// parseXFF validates every entry of a trusted peer's X-Forwarded-For and
// returns the chain, the client (right-most entry that is not a trusted
// proxy, else the left-most), and false if any entry is malformed.
func (p *Policy) parseXFF(vv []string) (chain string, client netip.Addr, ok bool) {
	var first, lastUntrusted netip.Addr
	n := 0
	for _, v := range vv {
		for rest, more := v, true; more; {
			var tok string
			tok, rest, more = strings.Cut(rest, ",")
			a, ok := parseNode(strings.Trim(tok, " \t"))
			if !ok {
				return "", netip.Addr{}, false
			}
			if n == 0 {
				first = a
			}
			n++
			if !p.trusted(a) {
				lastUntrusted = a
			}
		}
	}
	if n == 0 {
		return "", netip.Addr{}, false
	}
	client = first
	if lastUntrusted.IsValid() {
		client = lastUntrusted
	}
	if len(vv) == 1 {
		chain = strings.Trim(vv[0], " \t")
	} else {
		chain = strings.Join(vv, ", ")
	}
	return chain, client, true
}

// parseNode parses one X-Forwarded-For entry: an IP address, optionally
// with a port ("192.0.2.1:4711", "[2001:db8::1]:4711"), IPv6 optionally
// bracketed. Zones are refused.
func parseNode(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	var a netip.Addr
	var err error
	switch {
	case s[0] == '[' && s[len(s)-1] == ']':
		a, err = netip.ParseAddr(s[1 : len(s)-1])
		if err == nil && !a.Is6() {
			return netip.Addr{}, false
		}
	case s[0] == '[' || strings.Count(s, ":") == 1:
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// SetForwarded sets X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and
// Forwarded (RFC 7239) on the outbound header h from res and the inbound
// Host. X-Forwarded-For is the trusted chain Sanitize accepted (none from an
// untrusted peer) followed by the peer; Forwarded carries the same chain, and
// the last element adds host and proto. inboundHost is left out unless it is
// a valid host[:port], so no request byte can split a header (Envoy
// CVE-2023-27493).
//
// Call it after RemoveHopByHop on the outbound copy, or a client's
// Connection header could name these headers away.
func (p *Policy) SetForwarded(h http.Header, res Result, inboundHost string) {
	peer := ""
	if res.Peer.IsValid() {
		peer = res.Peer.String()
	}
	xff := res.ForwardedFor
	switch {
	case xff == "":
		xff = peer
	case peer != "":
		xff = xff + ", " + peer
	}
	// One array backs the four header values (issue #2: one allocation,
	// not four); each slice is capacity-limited so an append copies.
	vals := new([4]string)
	if xff != "" {
		vals[0] = xff
		h["X-Forwarded-For"] = vals[0:1:1]
	} else {
		delete(h, "X-Forwarded-For")
	}

	scheme := "http"
	if res.Scheme == "https" {
		scheme = "https"
	}
	vals[1] = scheme
	h["X-Forwarded-Proto"] = vals[1:2:2]

	_, _, hostRule := cleanHost(inboundHost)
	hostOK := hostRule == ruleOK
	if hostOK {
		vals[2] = inboundHost
		h["X-Forwarded-Host"] = vals[2:3:3]
	} else {
		delete(h, "X-Forwarded-Host")
	}

	var b strings.Builder
	b.Grow(len(res.ForwardedFor)*2 + len(peer) + len(inboundHost) + 40)
	for rest := res.ForwardedFor; rest != ""; {
		var tok string
		tok, rest = nextToken(rest)
		if a, ok := parseNode(tok); ok {
			writeNode(&b, a)
			b.WriteString(", ")
		}
	}
	if res.Peer.IsValid() {
		writeNode(&b, res.Peer)
		b.WriteByte(';')
	}
	if hostOK {
		b.WriteString(`host="`)
		b.WriteString(inboundHost)
		b.WriteString(`";`)
	}
	b.WriteString("proto=")
	b.WriteString(scheme)
	vals[3] = b.String()
	h["Forwarded"] = vals[3:4:4]
}

// writeNode writes an RFC 7239 for= node; IPv6 must be quoted and bracketed.
func writeNode(b *strings.Builder, a netip.Addr) {
	if a.Is6() {
		b.WriteString(`for="[`)
		b.WriteString(a.String())
		b.WriteString(`]"`)
		return
	}
	b.WriteString("for=")
	b.WriteString(a.String())
}

// hopHeaders are the RFC 9110 §7.6.1 connection-specific fields plus the
// legacy ones proxies still see, in canonical form.
var hopHeaders = [...]string{
	"Connection",
	"Keep-Alive",
	"Proxy-Connection",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// RemoveHopByHop deletes the hop-by-hop headers (Connection, Keep-Alive,
// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding, Upgrade) and every header named in Connection from h.
// The proxy uses it on outbound requests and on responses; it re-adds
// Upgrade for WebSocket and "TE: trailers" for gRPC itself.
func RemoveHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for rest := v; rest != ""; {
			var tok string
			tok, rest = nextToken(rest)
			if tok != "" {
				h.Del(tok)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}
