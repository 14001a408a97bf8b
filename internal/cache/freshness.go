package cache

import (
	"net/http"
	"strings"
	"time"
)

// Rules is the per-route caching policy that decides storage and freshness.
type Rules struct {
	// TTLOverride, when > 0, replaces the origin's freshness lifetime for
	// every storable response (no-store, private and Authorization still
	// apply).
	TTLOverride time.Duration
	// HonorCDNCacheControl and HonorSurrogateControl make the targeted
	// fields (RFC 9213) take precedence over Cache-Control at this cache.
	HonorCDNCacheControl  bool
	HonorSurrogateControl bool
	// Heuristic allows heuristic freshness (10% of the Last-Modified age,
	// at most HeuristicCap) where RFC 9111 §4.2.2 allows it.
	Heuristic bool
	// Strip are response fields never stored, in canonical form: what the
	// gateway sends origins about the caller (the configured assertion
	// header, X-Forwarded-User and the like), which an origin echoing it
	// back must not turn into one caller's identity in a shared answer.
	// AssertionHeader is always stripped.
	Strip []string
}

// HeuristicCap bounds heuristic freshness.
const HeuristicCap = 24 * time.Hour

// heuristicStatus are the status codes RFC 9110 §15.1 calls heuristically
// cacheable.
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus are the final status codes this cache implements the
// caching rules of (for must-understand).
func understoodStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414, 500, 501, 502, 503, 504:
		return true
	}
	return false
}

// edgeDirectives returns the directives that govern this cache: the
// targeted field when honoured and present (CDN-Cache-Control first, then
// Surrogate-Control), else Cache-Control. targeted reports which was used.
func (r *Rules) edgeDirectives(h http.Header) (d Directives, targeted bool) {
	if r.HonorCDNCacheControl {
		if v := h.Values("Cdn-Cache-Control"); len(v) > 0 {
			return ParseCacheControl(v), true
		}
	}
	if r.HonorSurrogateControl {
		if v := h.Values("Surrogate-Control"); len(v) > 0 {
			return ParseSurrogateControl(v), true
		}
	}
	return ParseCacheControl(h.Values("Cache-Control")), false
}

// lifetime computes the freshness lifetime (RFC 9111 §4.2.1) of a response
// as a shared cache, and whether it carried explicit freshness.
func (r *Rules) lifetime(status int, h http.Header, d Directives, responseTime time.Time) (life time.Duration, explicit bool) {
	if r.TTLOverride > 0 {
		return r.TTLOverride, true
	}
	if d.Invalid {
		return 0, true
	}
	if _, present, ok := ParseAge(h.Values("Age")); present && !ok {
		return 0, true
	}
	if d.SMaxAge >= 0 {
		return time.Duration(d.SMaxAge) * time.Second, true
	}
	if d.MaxAge >= 0 {
		return time.Duration(d.MaxAge) * time.Second, true
	}
	if exp := h.Values("Expires"); len(exp) > 0 {
		e, ok := ParseHTTPDate(exp)
		if !ok {
			return 0, true // an invalid Expires means already expired
		}
		date := responseTime.Unix()
		if dv, ok := ParseHTTPDate(h.Values("Date")); ok {
			date = dv
		}
		if e <= date {
			return 0, true
		}
		// Saturate as delta-seconds do: a far-future Expires (year 9999)
		// would overflow a Duration.
		return time.Duration(min(e-date, 1<<31)) * time.Second, true
	}
	if r.Heuristic && (heuristicStatus(status) || d.Public) {
		if lm, ok := ParseHTTPDate(h.Values("Last-Modified")); ok {
			date := responseTime.Unix()
			if dv, ok := ParseHTTPDate(h.Values("Date")); ok {
				date = dv
			}
			if date > lm {
				return min(time.Duration(date-lm)*time.Second/10, HeuristicCap), false
			}
		}
	}
	return 0, false
}

// initialAge is the corrected initial age (RFC 9111 §4.2.3).
func initialAge(h http.Header, requestTime, responseTime time.Time) time.Duration {
	var apparent time.Duration
	if dv, ok := ParseHTTPDate(h.Values("Date")); ok {
		apparent = max(0, responseTime.Sub(time.Unix(dv, 0)))
	}
	delay := max(0, responseTime.Sub(requestTime))
	age := time.Duration(0)
	if a, _, ok := ParseAge(h.Values("Age")); ok {
		age = time.Duration(a) * time.Second
	}
	return max(apparent, age+delay)
}

// Decision says whether and how a response may be stored.
type Decision struct {
	Store  bool
	Reason string // why not, for Cache-Status detail
	Object *Object
}

// decide applies RFC 9111 §3 as a shared cache to a response of a GET.
// authorized is true when the request carried credentials (Authorization or
// a session) and the route does not key by identity.
func (r *Rules) decide(status int, h http.Header, reqDirs Directives, authorized bool, requestTime, responseTime time.Time) Decision {
	if status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified {
		return Decision{Reason: "status"}
	}
	d, _ := r.edgeDirectives(h)
	if d.MustUnderstand && !understoodStatus(status) {
		return Decision{Reason: "must-understand"}
	}
	if reqDirs.NoStore || d.NoStore {
		return Decision{Reason: "no-store"}
	}
	if d.Private {
		return Decision{Reason: "private"}
	}
	shared := d.Public || d.SMaxAge >= 0 || d.MustRevalidate
	if authorized && !shared {
		return Decision{Reason: "authorization"}
	}
	names, star := ParseVary(h.Values("Vary"))
	if star {
		return Decision{Reason: "vary"}
	}
	life, explicit := r.lifetime(status, h, d, responseTime)
	hasValidator := h.Get("Etag") != "" || h.Get("Last-Modified") != ""
	switch {
	case explicit || d.Public:
	case life > 0:
	case heuristicStatus(status) && hasValidator:
		// Stored stale: reused only after validation.
	default:
		return Decision{Reason: "no-freshness"}
	}
	if life <= 0 && !hasValidator && !(d.StaleIfError > 0 || d.StaleWhileRevalidate > 0) {
		// Nothing to gain: it could never be served without a full fetch.
		return Decision{Reason: "stale"}
	}
	if len(h.Values("Trailer")) > 0 {
		return Decision{Reason: "trailers"}
	}
	stored := r.storedHeader(h, d)
	if r.HonorSurrogateControl {
		// Meant for this cache only; never sent on to clients.
		delete(stored, "Surrogate-Control")
	}
	if _, ok := stored["Set-Cookie"]; ok {
		return Decision{Reason: "set-cookie"}
	}
	o := &Object{
		Status:         status,
		Header:         stored,
		RequestTime:    requestTime,
		ResponseTime:   responseTime,
		InitialAge:     initialAge(h, requestTime, responseTime),
		Lifetime:       life,
		MustRevalidate: d.MustRevalidate || d.ProxyRevalidate || d.SMaxAge >= 0,
		NoCache:        d.NoCache && r.TTLOverride == 0,
		Shared:         shared,
		VaryNames:      names,
		Tags:           parseTags(h),
	}
	if d.StaleWhileRevalidate > 0 {
		o.StaleWhileRevalidate = time.Duration(d.StaleWhileRevalidate) * time.Second
	}
	if d.StaleIfError > 0 {
		o.StaleIfError = time.Duration(d.StaleIfError) * time.Second
	}
	return Decision{Store: true, Object: o}
}

// AssertionHeader is the default name of the identity assertion the
// gateway sends to origins; an origin echoing it back must not make it
// part of a stored response. A configured name goes into Rules.Strip.
const AssertionHeader = "Edgegate-Assertion"

// storedHeader is the response header as stored: without fields the
// response itself says not to store (qualified no-cache / private), without
// the identity fields of Strip and AssertionHeader, and without Age.
func (r *Rules) storedHeader(h http.Header, d Directives) http.Header {
	out := h.Clone()
	for _, f := range d.NoCacheFields {
		delete(out, f)
	}
	for _, f := range d.PrivateFields {
		delete(out, f)
	}
	for _, f := range r.Strip {
		delete(out, f)
	}
	delete(out, AssertionHeader)
	delete(out, "Age")
	return out
}

// parseTags reads the purge tags an origin attached: Cache-Tag (comma
// separated) and Surrogate-Key (space separated).
func parseTags(h http.Header) []string {
	var tags []string
	for _, v := range h.Values("Cache-Tag") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && len(tags) < 64 {
				tags = append(tags, t)
			}
		}
	}
	for _, v := range h.Values("Surrogate-Key") {
		for _, t := range strings.Fields(v) {
			if len(tags) < 64 {
				tags = append(tags, t)
			}
		}
	}
	return tags
}
