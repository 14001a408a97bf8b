package config

import (
	"net/textproto"
	"strings"
	"time"
)

// Cache is the validated edge cache configuration.
type Cache struct {
	MemoryMaxBytes int64
	MaxObjectBytes int64
	// DiskPath is "" without a disk tier.
	DiskPath        string
	DiskMaxBytes    int64
	CollapseTimeout time.Duration
	// PurgeTokenEnv or PurgeTokenFile (resolved) names where the purge
	// token is read; both empty: the purge API is off.
	PurgeTokenEnv  string
	PurgeTokenFile string
	Heuristic      bool
}

// RouteCache is a route's validated cache setting; the zero value does not cache.
type RouteCache struct {
	Enabled     bool
	TTLOverride time.Duration
	// QueryNone drops the query; QueryArgs keeps only these arguments.
	QueryNone   bool
	QueryArgs   []string
	Headers     []string
	Cookies     []string
	Variables   []string
	PerIdentity bool
	// HonorCDNCacheControl and HonorSurrogateControl: targeted fields obeyed.
	HonorCDNCacheControl  bool
	HonorSurrogateControl bool
}

// Cache defaults (stated in raw_cache.go's comments as "Without it: ...").
const (
	DefaultCacheMemoryMaxBytes  = 256 << 20
	DefaultCacheMaxObjectBytes  = 8 << 20
	DefaultCacheDiskMaxBytes    = 1 << 30
	DefaultCacheCollapseTimeout = 5 * time.Second
	DefaultCacheHeuristic       = true
)

func (v *validator) cache(raw *RawConfig) Cache {
	r := raw.Cache
	c := Cache{
		MemoryMaxBytes:  DefaultCacheMemoryMaxBytes,
		MaxObjectBytes:  DefaultCacheMaxObjectBytes,
		CollapseTimeout: v.duration("cache.collapse_timeout", r.CollapseTimeout, DefaultCacheCollapseTimeout, positive),
		Heuristic:       boolOr(r.Heuristic, DefaultCacheHeuristic),
	}
	if m := r.Memory; m != nil {
		c.MemoryMaxBytes = v.size("cache.memory.max_bytes", m.MaxBytes, DefaultCacheMemoryMaxBytes)
		c.MaxObjectBytes = v.size("cache.memory.max_object_bytes", m.MaxObjectBytes, min(DefaultCacheMaxObjectBytes, c.MemoryMaxBytes))
		if c.MaxObjectBytes > c.MemoryMaxBytes {
			v.errorf("cache.memory.max_object_bytes", "must not be larger than cache.memory.max_bytes (%s)", formatSize(c.MemoryMaxBytes))
		}
	}
	if d := r.Disk; d != nil {
		switch {
		case d.Path == nil:
			v.errorf("cache.disk", "path is required: the directory of the disk tier")
		case *d.Path == "":
			v.errorf("cache.disk.path", "must not be empty")
		default:
			c.DiskPath = v.resolve(*d.Path)
			v.parentDir("cache.disk.path", c.DiskPath)
		}
		c.DiskMaxBytes = v.size("cache.disk.max_bytes", d.MaxBytes, DefaultCacheDiskMaxBytes)
	}
	if p := r.Purge; p != nil {
		switch {
		case p.TokenEnv != nil && p.TokenFile != nil:
			v.errorf("cache.purge.token_env", "give token_env or token_file, not both")
		case p.TokenEnv != nil:
			c.PurgeTokenEnv = *p.TokenEnv
			if !envNameRE.MatchString(c.PurgeTokenEnv) {
				v.errorf("cache.purge.token_env", "%q is not an environment variable name", c.PurgeTokenEnv)
			}
		case p.TokenFile != nil:
			resolved, data, ok := v.readFile("cache.purge.token_file", *p.TokenFile, 64<<10)
			c.PurgeTokenFile = resolved
			if ok && strings.TrimSpace(string(data)) == "" {
				v.errorf("cache.purge.token_file", "%q is empty", resolved)
			}
		default:
			v.errorf("cache.purge", "give token_env or token_file: the purge API needs a bearer token")
		}
	}
	return c
}

func (v *validator) routeCache(rp string, r *RawRoute) RouteCache {
	rc := r.Cache
	if rc == nil {
		return RouteCache{}
	}
	p := rp + ".cache"
	out := RouteCache{
		Enabled:               boolOr(rc.Enabled, true),
		TTLOverride:           v.duration(p+".ttl_override", rc.TTLOverride, 0, positive),
		PerIdentity:           boolOr(rc.PerIdentity, false),
		HonorCDNCacheControl:  true,
		HonorSurrogateControl: true,
	}
	if rc.Honor != nil {
		out.HonorCDNCacheControl, out.HonorSurrogateControl = false, false
		for i, h := range rc.Honor {
			switch strings.ToLower(h) {
			case "cdn-cache-control":
				out.HonorCDNCacheControl = true
			case "surrogate-control":
				out.HonorSurrogateControl = true
			default:
				v.errorf(idx(p+".honor", i), "unknown field %q; allowed: cdn-cache-control, surrogate-control", h)
			}
		}
	}
	if out.Enabled && r.Pool == nil {
		v.errorf(p, "caching needs a pool; a redirect-only route has nothing to cache")
	}
	if k := rc.Key; k != nil {
		kp := p + ".key"
		if k.Query != nil {
			switch *k.Query {
			case "all":
			case "none":
				out.QueryNone = true
			default:
				v.errorf(kp+".query", "unknown value %q; allowed: all, none", *k.Query)
			}
		}
		if len(k.QueryArgs) > 0 && out.QueryNone {
			v.errorf(kp+".query_args", "not together with query: none")
		}
		for i, a := range k.QueryArgs {
			if a == "" {
				v.errorf(idx(kp+".query_args", i), "must not be empty")
			}
		}
		out.QueryArgs = k.QueryArgs
		for i, h := range k.Headers {
			hp := idx(kp+".headers", i)
			if !validToken(h) {
				v.errorf(hp, "%q is not a header name", h)
				continue
			}
			c := textproto.CanonicalMIMEHeaderKey(h)
			if c == "Authorization" || c == "Cookie" || c == "Proxy-Authorization" {
				v.errorf(hp, "%s would put credentials into cache keys; use per_identity (or cookies for a named cookie)", c)
				continue
			}
			out.Headers = append(out.Headers, c)
		}
		session := DefaultLoginCookieName
		if v.raw.Login != nil && v.raw.Login.CookieName != nil {
			session = *v.raw.Login.CookieName
		}
		for i, c := range k.Cookies {
			cp := idx(kp+".cookies", i)
			switch {
			case !validToken(c) || strings.ContainsAny(c, "=;,"):
				v.errorf(cp, "%q is not a cookie name", c)
			case c == session:
				v.errorf(cp, "%q is the login session cookie; use per_identity to cache per caller", c)
			default:
				out.Cookies = append(out.Cookies, c)
			}
		}
		for i, n := range k.Variables {
			if !strings.HasPrefix(n, "PMUSER_") || !envNameRE.MatchString(n) {
				v.errorf(idx(kp+".variables", i), "%q must be a PMUSER_ variable name (letters, digits, _)", n)
				continue
			}
			out.Variables = append(out.Variables, n)
		}
	}
	return out
}
