package cache

import (
	"crypto/sha256"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Object is one stored response. It is immutable once stored: updates
// (a 304's headers, an invalidation) replace it with a copy.
type Object struct {
	Status int
	Header http.Header
	Body   []byte
	// RequestTime and ResponseTime are when the request that produced it was
	// sent and its response headers arrived (RFC 9111 §4.2.3).
	RequestTime  time.Time
	ResponseTime time.Time
	// InitialAge is the corrected initial age; Lifetime the freshness
	// lifetime decided at store time (route policy included).
	InitialAge time.Duration
	Lifetime   time.Duration
	// StaleWhileRevalidate and StaleIfError are the windows past Lifetime
	// in which the object may still be served (0: none).
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	// MustRevalidate covers must-revalidate, proxy-revalidate and s-maxage:
	// never served stale. NoCache: validate on every use.
	MustRevalidate bool
	NoCache        bool
	// Shared marks a response the RFC lets a shared cache give to a request
	// that carried Authorization (public, s-maxage or must-revalidate).
	Shared bool
	// VaryNames (lower-case) and VaryValues are the request's selecting
	// header fields: VaryValues[i] is the SHA-256 (32 bytes) of the
	// normalized value, never the value, because Vary: Authorization or
	// Cookie would otherwise keep credentials in memory and on disk.
	VaryNames  []string
	VaryValues []string
	// URL is the request URL it answered (scheme://host/path?query), and
	// Tags the origin's Cache-Tag / Surrogate-Key values, for purges.
	URL  string
	Tags []string
	// Invalid is set by an invalidating purge: the object must be validated
	// before reuse.
	Invalid bool
}

// Age is the object's current age at now (RFC 9111 §4.2.3).
func (o *Object) Age(now time.Time) time.Duration {
	resident := now.Sub(o.ResponseTime)
	if resident < 0 {
		resident = 0
	}
	return o.InitialAge + resident
}

// Fresh reports whether the object is fresh at now.
func (o *Object) Fresh(now time.Time) bool {
	return !o.Invalid && !o.NoCache && o.Lifetime > o.Age(now)
}

// Size is the object's weight in the memory tier: body plus an estimate of
// its header and bookkeeping.
func (o *Object) Size() int64 {
	n := int64(len(o.Body)) + 256 + int64(len(o.URL))
	for k, vv := range o.Header {
		n += int64(len(k)) + 16
		for _, v := range vv {
			n += int64(len(v)) + 16
		}
	}
	for _, v := range o.VaryValues {
		n += int64(len(v)) + 16
	}
	return n
}

// ETag and LastModified are the stored validators.
func (o *Object) ETag() string         { return o.Header.Get("Etag") }
func (o *Object) LastModified() string { return o.Header.Get("Last-Modified") }

// matchesVary reports whether req selects this object (RFC 9111 §4.1).
func (o *Object) matchesVary(h http.Header) bool {
	for i, name := range o.VaryNames {
		d := varyDigest(h, name)
		if i >= len(o.VaryValues) || string(d[:]) != o.VaryValues[i] {
			return false
		}
	}
	return true
}

// varyDigest is what a stored object keeps of a selecting request field:
// the SHA-256 of its normalized value. Equal values still compare equal;
// the value itself (a token, a session cookie) is never kept.
func varyDigest(h http.Header, lowerName string) [sha256.Size]byte {
	return sha256.Sum256([]byte(normalizedField(h, lowerName)))
}

// normalizedField joins a request field's lines and removes optional
// whitespace around list commas, so semantically equal values compare
// equal.
func normalizedField(h http.Header, lowerName string) string {
	vv := h.Values(lowerName)
	if len(vv) == 0 {
		return "\x00" // absent differs from empty
	}
	if len(vv) == 1 && !strings.ContainsAny(vv[0], ", \t") {
		return vv[0]
	}
	parts := make([]string, 0, 4)
	for _, v := range vv {
		for _, p := range strings.Split(v, ",") {
			parts = append(parts, strings.TrimSpace(p))
		}
	}
	return strings.Join(parts, ",")
}

// entry is what one cache key holds: the stored variants of a resource,
// most recent first. It is immutable; changes replace it.
type entry struct {
	Key     string
	Objects []*Object
}

const maxVariants = 16

func (e *entry) size() int64 {
	var n int64 = 64 + int64(len(e.Key))
	for _, o := range e.Objects {
		n += o.Size()
	}
	return n
}

// with returns a copy of e with o in front, replacing the variant with the
// same selecting values.
func (e *entry) with(key string, o *Object) *entry {
	out := &entry{Key: key, Objects: make([]*Object, 0, 4)}
	out.Objects = append(out.Objects, o)
	if e != nil {
		for _, old := range e.Objects {
			if len(out.Objects) >= maxVariants {
				break
			}
			if slices.Equal(old.VaryNames, o.VaryNames) && slices.Equal(old.VaryValues, o.VaryValues) {
				continue
			}
			out.Objects = append(out.Objects, old)
		}
	}
	return out
}

// replace returns a copy of e with old swapped for o (nil drops it).
func (e *entry) replace(old, o *Object) *entry {
	out := &entry{Key: e.Key, Objects: make([]*Object, 0, len(e.Objects))}
	for _, x := range e.Objects {
		switch {
		case x != old:
			out.Objects = append(out.Objects, x)
		case o != nil:
			out.Objects = append(out.Objects, o)
		}
	}
	return out
}

// selectFor returns the most recent variant req selects.
func (e *entry) selectFor(h http.Header) *Object {
	if e == nil {
		return nil
	}
	for _, o := range e.Objects {
		if o.matchesVary(h) {
			return o
		}
	}
	return nil
}

func (e *entry) urls() []string {
	var out []string
	for _, o := range e.Objects {
		if !slices.Contains(out, o.URL) {
			out = append(out, o.URL)
		}
	}
	return out
}

func (e *entry) tags() []string {
	var out []string
	for _, o := range e.Objects {
		for _, t := range o.Tags {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
