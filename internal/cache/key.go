package cache

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// KeySpec says what, besides the URL, makes up a route's cache key: the
// operations of the EdgeWorkers cacheKey object.
type KeySpec struct {
	// QueryNone drops the query string; QueryArgs, when not empty, keeps
	// only these arguments (in request order). Neither: the whole query.
	QueryNone bool
	QueryArgs []string
	// Headers, Cookies and Variables are request header names, cookie
	// names and PMUSER_ variable names whose values join the key.
	Headers   []string
	Cookies   []string
	Variables []string
	// PerIdentity adds the verified caller (issuer and subject).
	PerIdentity bool
}

// KeyInput is the request as the key sees it: sanitized scheme, host, path
// and the raw query.
type KeyInput struct {
	Scheme, Host, Path, RawQuery string
	Header                       http.Header
	// Vars are the request's PMUSER_ variables (edge scripts); may be nil.
	Vars func(name string) string
	// Issuer and Subject identify the verified caller ("" when anonymous).
	Issuer, Subject string
}

// Key computes the cache key and the URL part of it (scheme://host/path
// with the kept query), which purges and invalidations address.
func (s *KeySpec) Key(in *KeyInput) (key, urlKey string) {
	n := len(in.Scheme) + 3 + len(in.Host) + len(in.Path) + 1 + len(in.RawQuery)
	b := make([]byte, 0, n+32)
	b = append(b, in.Scheme...)
	b = append(b, "://"...)
	b = append(b, in.Host...)
	b = append(b, in.Path...)
	switch {
	case s.QueryNone || in.RawQuery == "":
	case len(s.QueryArgs) > 0:
		b = s.appendArgs(b, in.RawQuery)
	default:
		b = append(b, '?')
		b = append(b, in.RawQuery...)
	}
	urlLen := len(b)
	for _, h := range s.Headers {
		b = append(b, "\x00h:"...)
		b = append(b, h...)
		b = append(b, '=')
		for i, v := range in.Header.Values(h) {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, v...)
		}
	}
	if len(s.Cookies) > 0 {
		for _, c := range s.Cookies {
			b = append(b, "\x00c:"...)
			b = append(b, c...)
			b = append(b, '=')
			b = append(b, cookieValue(in.Header, c)...)
		}
	}
	for _, v := range s.Variables {
		b = append(b, "\x00v:"...)
		b = append(b, v...)
		b = append(b, '=')
		if in.Vars != nil {
			b = append(b, in.Vars(v)...)
		}
	}
	if s.PerIdentity {
		b = append(b, "\x00id:"...)
		b = append(b, in.Issuer...)
		b = append(b, '\x00')
		b = append(b, in.Subject...)
	}
	key = string(b)
	return key, key[:urlLen]
}

// appendArgs keeps the listed query arguments. Only "&" separates
// arguments (";" is data, so it cannot cloak a parameter), and a name
// matches in its decoded form.
func (s *KeySpec) appendArgs(b []byte, raw string) []byte {
	first := true
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		name, _, _ := strings.Cut(part, "=")
		if dn, err := url.QueryUnescape(name); err == nil {
			name = dn
		}
		if !slices.Contains(s.QueryArgs, name) {
			continue
		}
		if first {
			b = append(b, '?')
			first = false
		} else {
			b = append(b, '&')
		}
		b = append(b, part...)
	}
	return b
}

// cookieValue is the value of the named cookie in the request ("" absent).
func cookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == name {
				return v
			}
		}
	}
	return ""
}

// URLOf is the URL a stored object answered, for purges by exact URL and
// prefix: scheme://host/path?query as requested.
func URLOf(scheme, host, path, rawQuery string) string {
	if rawQuery == "" {
		return scheme + "://" + host + path
	}
	return scheme + "://" + host + path + "?" + rawQuery
}
