package hygiene

import (
	"net/netip"
	"strings"
)

const maxHostLen = 255 + len("[]:65535")

// cleanHost validates a Host value (host[:port]). It returns the host name
// for routing (lower-case, no port, no trailing dot, IPv6 without brackets)
// and the normalized host[:port] to write back to r.Host. It allocates only
// when the value has to change.
//
// Names are LDH labels (underscore allowed, as in service names) separated
// by single dots; a single trailing dot is removed so "example.com." cannot
// route differently from "example.com". Ports are 1-5 digits up to 65535.
// IPv6 literals must be bracketed and carry no zone.
func cleanHost(h string) (name, hostport string, ru rule) {
	if h == "" {
		return "", "", ruleHostMissing
	}
	if len(h) > maxHostLen {
		return "", "", ruleHostInvalid
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", "", ruleHostInvalid
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", ruleHostInvalid
		}
		if rest := h[end+1:]; rest != "" && (rest[0] != ':' || !validPort(rest[1:])) {
			return "", "", ruleHostInvalid
		}
		hostport = lowerString(h)
		return hostport[1:end], hostport, ruleOK
	}

	hostPart, port := h, ""
	if i := strings.IndexByte(h, ':'); i >= 0 {
		hostPart, port = h[:i], h[i+1:]
		if !validPort(port) {
			return "", "", ruleHostInvalid
		}
	}
	if !validName(hostPart) {
		return "", "", ruleHostInvalid
	}
	host := strings.TrimSuffix(hostPart, ".")
	if len(host) == len(hostPart) {
		hostport = lowerString(h)
		return hostport[:len(host)], hostport, ruleOK
	}
	name = lowerString(host)
	if port == "" {
		return name, name, ruleOK
	}
	return name, name + ":" + port, ruleOK
}

// validName checks dot-separated labels of [A-Za-z0-9_-], each 1-63 bytes,
// allowing one trailing dot.
func validName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			label++
			if label > 63 {
				return false
			}
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
		default:
			return false
		}
	}
	return label > 0
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// lowerString lower-cases ASCII letters, allocating only if one is upper-case.
func lowerString(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
