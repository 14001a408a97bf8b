package config

// RawCache configures the edge cache: an RFC 9111 shared cache that routes
// turn on with their own cache section (see docs/cache.md). Its storage
// outlives configuration reloads.
type RawCache struct {
	// The memory tier, bounded in bytes.
	Memory *RawCacheMemory `yaml:"memory"`
	// An optional disk tier, bounded in bytes, that survives a restart. A
	// full or unwritable disk degrades to memory with an error logged;
	// requests never fail because of it.
	Disk *RawCacheDisk `yaml:"disk"`
	// How long a request waits for another request's origin fetch of the
	// same key (request collapsing) before going to the origin itself.
	// Without it: 5s.
	CollapseTimeout *Duration `yaml:"collapse_timeout"`
	// The purge API (POST /cache/purge on the admin listener). Without it
	// the API answers 404.
	Purge *RawCachePurge `yaml:"purge"`
	// Heuristic freshness (RFC 9111 §4.2.2): a response without explicit
	// freshness but with Last-Modified stays fresh for 10% of its age, at
	// most a day, where the RFC allows it. Without it: true.
	Heuristic *bool `yaml:"heuristic"`
}

// RawCacheMemory is the memory tier.
type RawCacheMemory struct {
	// Most bytes the memory tier holds (bodies, headers and bookkeeping).
	// Without it: 256MiB.
	MaxBytes *Size `yaml:"max_bytes"`
	// Largest response stored; a larger one is streamed to the client and
	// not stored. At most max_bytes. Without it: 8MiB.
	MaxObjectBytes *Size `yaml:"max_object_bytes"`
}

// RawCacheDisk is the disk tier.
type RawCacheDisk struct {
	// Directory of the disk tier (relative to the configuration file's
	// directory); created if missing, its parent must exist. Required.
	Path *string `yaml:"path"`
	// Most bytes the disk tier holds; least recently used files go first.
	// Without it: 1GiB.
	MaxBytes *Size `yaml:"max_bytes"`
}

// RawCachePurge authorizes the purge API with a bearer token, read from an
// environment variable or a file (never written in the configuration).
type RawCachePurge struct {
	// Name of the environment variable holding the token.
	TokenEnv *string `yaml:"token_env"`
	// File holding the token (relative to the configuration file's
	// directory); surrounding whitespace is ignored.
	TokenFile *string `yaml:"token_file"`
}

// RawRouteCache configures caching on a route.
type RawRouteCache struct {
	// Turns caching on for the route. Without it: true (a cache section
	// turns caching on).
	Enabled *bool `yaml:"enabled"`
	// Replaces the origin's freshness lifetime for every response that may
	// be stored (no-store, private and the Authorization rule still apply).
	// Without it the origin's headers decide.
	TTLOverride *Duration `yaml:"ttl_override"`
	// What, besides scheme, host and path, makes up the cache key.
	Key *RawCacheKey `yaml:"key"`
	// Cache responses to authenticated callers per caller: the verified
	// issuer and subject join the key. Without it, responses to requests
	// with credentials are only stored and reused when the origin allows it
	// for shared caches (public, s-maxage or must-revalidate). Without it:
	// false.
	PerIdentity *bool `yaml:"per_identity"`
	// Targeted cache-control fields this cache obeys over Cache-Control:
	// "cdn-cache-control" (RFC 9213) and "surrogate-control" (removed from
	// responses to clients). Without it: both; [] for neither.
	Honor []string `yaml:"honor"`
}

// RawCacheKey is the cache-key operations of a route (the EdgeWorkers
// cacheKey object's).
type RawCacheKey struct {
	// "all" keeps the whole query string, "none" drops it. Without it:
	// "all".
	Query *string `yaml:"query"`
	// Keep only these query arguments (in request order); the rest do not
	// vary the key. Not together with query: none.
	QueryArgs []string `yaml:"query_args"`
	// Request headers whose values join the key. Authorization and Cookie
	// are refused (use per_identity or cookies).
	Headers []string `yaml:"headers"`
	// Cookies whose values join the key. The login session cookie is
	// refused (use per_identity).
	Cookies []string `yaml:"cookies"`
	// Edge-script variables (PMUSER_...) whose values join the key.
	Variables []string `yaml:"variables"`
}
