package config

// The Raw* types mirror the YAML file one to one. Parse fills them and
// records where every field stands; Validate turns them into a *Config.
//
// A nil pointer means "not written in the file", so Validate can tell an
// explicit value (even a zero one) from an absent one and apply the default.
// Durations and sizes stay strings as written so their error messages can
// quote the user's text.
//
// The doc comment on every field is user-facing: docs/config.md is generated
// from it (go test ./internal/config -run TestConfigDocInStep -update).
// Each field's "yaml" tag is its key in the file. A comment that states a
// default must agree with defaults.go (a test checks it).

// Duration is a Go duration such as "10s", "250ms" or "1m30s" (units ns,
// us, ms, s, m, h). A bare number is an error, since its unit is unclear.
// Kept as written until Validate.
type Duration string

// Size is a byte count: a plain integer (bytes), or an integer and a unit,
// optionally separated by a space: B, KiB, MiB, GiB (powers of 1024) or KB,
// MB, GB (powers of 1000), as in "64KiB". Kept as written until Validate.
type Size string

// RawConfig is the whole configuration file.
type RawConfig struct {
	// Schema version of the file. Required; the only allowed value is 1.
	Version *int `yaml:"version"`
	// Public sockets the gateway accepts requests on. At least one is required.
	Listeners []RawListener `yaml:"listeners"`
	// Private operations listener serving /healthz, /readyz and /metrics.
	Admin RawAdmin `yaml:"admin"`
	// Peers whose X-Forwarded-For, X-Forwarded-Proto and similar headers are
	// believed: CIDRs ("10.0.0.0/8") or single addresses ("192.0.2.7").
	// Forwarded headers from any other peer are removed. Default: empty
	// (trust nobody).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Bounds on what a client may send.
	Limits RawLimits `yaml:"limits"`
	// Gateway-wide timeouts. Pools and routes may override the origin ones.
	Timeouts RawTimeouts `yaml:"timeouts"`
	// Structured and access logging.
	Log RawLog `yaml:"log"`
	// Named groups of interchangeable origin servers that routes forward to.
	// At least one is required unless every route is a redirect.
	Pools []RawPool `yaml:"pools"`
	// Rules that pick, for each request, a pool to forward to or a redirect to
	// answer with. At least one is required. The most specific matching route
	// wins (see docs/routing.md); order in the file does not matter.
	Routes []RawRoute `yaml:"routes"`
	// Trusted token issuers (OIDC providers) for bearer tokens and login.
	Identity RawIdentity `yaml:"identity"`
	// Browser login (OIDC authorization code flow with PKCE) and sessions.
	// Needed by routes whose auth mode includes session.
	Login *RawLogin `yaml:"login"`
	// The embedded OpenID provider for development (edgegate dev). Never
	// for production: it refuses non-loopback addresses unless forced.
	DevProvider *RawDevProvider `yaml:"dev_provider"`
	// Roles derived from identity and service identities, for route rules.
	Policy RawPolicy `yaml:"policy"`
	// The signed identity assertion sent to origins.
	Assertion RawAssertion `yaml:"assertion"`
	// The gateway's own key ring: signing and cookie keys, their storage and rotation.
	Keys RawKeys `yaml:"keys"`
	// The tamper-evident audit trail of every decision.
	Audit RawAudit `yaml:"audit"`
	// OpenTelemetry traces. Off unless an endpoint is given.
	Tracing RawTracing `yaml:"tracing"`
	// The edge cache: storage tiers and the purge API.
	Cache RawCache `yaml:"cache"`
	// Edge scripts: EdgeWorkers bundles, their versions and resource tiers.
	Scripts RawScripts `yaml:"scripts"`
}

// RawListener is one public socket.
type RawListener struct {
	// Name used in logs and metrics: letters, digits, "_", "-" and ".";
	// unique among listeners. Default: "listener-<index>" (listener-0, ...).
	Name *string `yaml:"name"`
	// Where to listen, as host:port ("127.0.0.1:8080", ":443", "[::1]:8080").
	// Required. An empty host listens on every interface; port 0 picks a free
	// port. Two listeners (or a listener and the admin listener) may not use
	// the same address.
	Address *string `yaml:"address"`
	// Serve HTTPS with these certificate files. Absent means plain HTTP.
	TLS *RawServerTLS `yaml:"tls"`
	// Offer HTTP/2 (ALPN "h2") on a TLS listener. Ignored without tls.
	// Default: true.
	HTTP2 *bool `yaml:"http2"`
	// Accept prior-knowledge cleartext HTTP/2 on a plain listener (the
	// "Upgrade: h2c" dance is never honoured). Not allowed together with tls.
	// Default: false.
	H2C *bool `yaml:"h2c"`
}

// RawServerTLS names the certificate files of a TLS listener. Relative paths
// are relative to the directory of the configuration file.
type RawServerTLS struct {
	// PEM certificate chain, leaf first. Required.
	CertFile *string `yaml:"cert_file"`
	// PEM private key matching cert_file. Required.
	KeyFile *string `yaml:"key_file"`
	// PEM bundle of CAs. When set, clients must present a certificate signed
	// by one of them.
	ClientCAFile *string `yaml:"client_ca_file"`
	// Oldest TLS version accepted: "1.2" or "1.3". Default: "1.2".
	MinVersion *string `yaml:"min_version"`
}

// RawAdmin is the private operations listener.
type RawAdmin struct {
	// Where the admin listener binds, as host:port, or "off" to disable it.
	// Keep it on a private address. Default: "127.0.0.1:9901".
	Address *string `yaml:"address"`
}

// RawLimits bounds what a client may send.
type RawLimits struct {
	// Largest request line plus headers accepted. Larger requests get 431.
	// Must be greater than 0. Default: 64KiB.
	MaxHeaderBytes *Size `yaml:"max_header_bytes"`
	// Largest request body accepted. Larger bodies get 413. Routes may
	// override it. Must be greater than 0. Default: 10MiB.
	MaxBodyBytes *Size `yaml:"max_body_bytes"`
	// Longest request target (path and query) accepted. Longer ones get 414.
	// Must be greater than 0. Default: 8KiB.
	MaxURIBytes *Size `yaml:"max_uri_bytes"`
}

// RawTimeouts are the gateway-wide timeouts.
type RawTimeouts struct {
	// Time a client has to send the request headers. Must be greater than 0.
	// Default: 10s.
	ReadHeader *Duration `yaml:"read_header"`
	// Time a client has to send the whole request, body included. Must be
	// greater than 0. Default: 60s.
	Read *Duration `yaml:"read"`
	// Time allowed to write the whole response. 0 turns it off, so long
	// streams and WebSockets are not cut. Must not be negative. Default: 0s.
	Write *Duration `yaml:"write"`
	// How long an idle keep-alive client connection is kept open. Must be
	// greater than 0. Default: 120s.
	Idle *Duration `yaml:"idle"`
	// Time allowed to open a connection to an origin (TCP and TLS). Pools
	// may override it. Must be greater than 0. Default: 5s.
	OriginConnect *Duration `yaml:"origin_connect"`
	// Time an origin has to send response headers once the request is sent.
	// Pools and routes may override it. Must be greater than 0. Default: 30s.
	OriginResponse *Duration `yaml:"origin_response"`
	// On shutdown or reload, how long in-flight requests may run before
	// their connections are closed. Must be greater than 0. Default: 30s.
	Shutdown *Duration `yaml:"shutdown"`
}

// RawLog configures logging.
type RawLog struct {
	// Least severe level logged: "debug", "info", "warn" or "error".
	// Default: "info".
	Level *string `yaml:"level"`
	// Write one JSON line per request to access_file. Default: true.
	Access *bool `yaml:"access"`
	// Where the access log goes: "-" is standard output; otherwise a file
	// path (relative to the configuration file's directory) whose directory
	// must exist. Default: "-".
	AccessFile *string `yaml:"access_file"`
	// Fraction of successful requests (status below 400) written to the
	// access log, from 0 to 1. Errors and refusals are always written.
	// Default: 1
	AccessSample *float64 `yaml:"access_sample"`
}

// RawPool is a named group of interchangeable origin servers.
type RawPool struct {
	// Name routes use to refer to the pool: lower-case letters, digits, "_"
	// and "-". Required; unique.
	Name *string `yaml:"name"`
	// Origin servers. At least one. Each item is either a mapping with url
	// and weight, or just the URL as a string (weight 1).
	Members []RawMember `yaml:"members"`
	// How requests are spread over healthy members: "round_robin",
	// "least_requests" (fewest requests in flight, weighted) or "hash"
	// (consistent hashing on the key given by hash). Default: "round_robin".
	Balance *string `yaml:"balance"`
	// What to hash on. Required when balance is "hash", not allowed
	// otherwise. Give exactly one of header, cookie or client_ip.
	Hash *RawHash `yaml:"hash"`
	// Protocol spoken to members: "http1" (HTTP/1.1, over TLS for https
	// members), "http2" (HTTP/2 over TLS for https members, prior-knowledge
	// cleartext h2c for http members; gRPC origins need it) or "auto" (h2 if
	// the member offers it over TLS, HTTP/1.1 otherwise). Default: "http1".
	Protocol *string `yaml:"protocol"`
	// Active health checks: each member is probed with a GET on a schedule.
	// Members start healthy, so a fresh configuration serves at once.
	// Absent means no active checks.
	HealthCheck *RawHealthCheck `yaml:"health_check"`
	// Passive health: members whose real requests fail are ejected for a
	// while.
	Passive RawPassive `yaml:"passive"`
	// How many OTHER members a failed request may be retried on. Only
	// idempotent requests, or requests whose connection failed before
	// anything was sent, are retried. 0 to 10. Default: 1.
	Retries *int `yaml:"retries"`
	// Name of another pool that takes the traffic while this pool has no
	// healthy member. Failover chains may not loop back.
	Failover *string `yaml:"failover"`
	// TLS settings toward https members (CA, client certificate for mTLS,
	// server name). Absent means the system roots are trusted. Only allowed
	// when at least one member uses https.
	TLS *RawOriginTLS `yaml:"tls"`
	// Idle keep-alive connections kept open to each member. At least 1.
	// Default: 256.
	MaxIdleConnsPerHost *int `yaml:"max_idle_conns_per_host"`
	// Connections (requests in flight) allowed to each member at once.
	// A request to a member at its limit waits for a slot, at most for the
	// origin response timeout; the wait is edgegate_pool_queue_seconds and
	// the waiting requests are edgegate_pool_queued. 0 to 1000000.
	// Default: 0 (no limit).
	MaxConnsPerMember *int `yaml:"max_conns_per_member"`
	// Overrides timeouts.origin_connect for this pool. 0 or absent keeps the
	// global value.
	ConnectTimeout *Duration `yaml:"connect_timeout"`
	// Overrides timeouts.origin_response for this pool (a route's
	// response_timeout overrides it in turn). 0 or absent keeps the global
	// value.
	ResponseTimeout *Duration `yaml:"response_timeout"`
}

// RawMember is one origin server. In the file it may also be written as a
// plain string, which is the url.
type RawMember struct {
	// Origin address as scheme://host[:port]: scheme "http" or "https", no
	// path (a lone "/" is allowed), no query, no user info. The port defaults
	// to 80 or 443. Required; unique within the pool.
	URL *string `yaml:"url"`
	// Relative share of the traffic, 1 to 1000. Default: 1.
	Weight *int `yaml:"weight"`
}

// RawHash is the key of a hash pool. Exactly one field is given.
type RawHash struct {
	// Hash on the value of this request header (a header name such as
	// "X-User-Id"). Requests without it are spread round robin.
	Header *string `yaml:"header"`
	// Hash on the value of this cookie. Requests without it are spread
	// round robin.
	Cookie *string `yaml:"cookie"`
	// Hash on the client IP address (the one resolved through
	// trusted_proxies). Must be true when given.
	ClientIP *bool `yaml:"client_ip"`
}

// RawHealthCheck configures active health checks.
type RawHealthCheck struct {
	// Path probed with GET, starting with "/" (a query is allowed). Required.
	Path *string `yaml:"path"`
	// Host header sent with the probe (a host name, optionally with a port).
	// Default: the member's host.
	Host *string `yaml:"host"`
	// Time between probes of one member. Must be greater than 0.
	// Default: 5s.
	Interval *Duration `yaml:"interval"`
	// Time a probe may take. Must be greater than 0 and less than interval.
	// Default: 2s.
	Timeout *Duration `yaml:"timeout"`
	// Consecutive successful probes that make an unhealthy member healthy.
	// At least 1. Default: 2.
	HealthyThreshold *int `yaml:"healthy_threshold"`
	// Consecutive failed probes that make a healthy member unhealthy.
	// At least 1. Default: 3.
	UnhealthyThreshold *int `yaml:"unhealthy_threshold"`
	// Status code a healthy member answers with, 100 to 599. 0 accepts any
	// 2xx. Default: 0.
	ExpectStatus *int `yaml:"expect_status"`
}

// RawPassive configures passive ejection.
type RawPassive struct {
	// Failed requests (connection errors, timeouts, 5xx from the member)
	// within window that eject a member. 0 turns passive ejection off.
	// Must not be negative. Default: 5.
	MaxFailures *int `yaml:"max_failures"`
	// Sliding window over which failures are counted. Must be greater
	// than 0. Default: 10s.
	Window *Duration `yaml:"window"`
	// How long an ejected member is left out before it gets traffic again.
	// Must be greater than 0. Default: 30s.
	EjectFor *Duration `yaml:"eject_for"`
}

// RawOriginTLS is TLS toward https members. Relative paths are relative to
// the directory of the configuration file.
type RawOriginTLS struct {
	// PEM bundle of CAs trusted for member certificates, instead of the
	// system roots.
	CAFile *string `yaml:"ca_file"`
	// PEM client certificate presented to members (mTLS). Needs key_file.
	CertFile *string `yaml:"cert_file"`
	// PEM private key of cert_file. Needs cert_file.
	KeyFile *string `yaml:"key_file"`
	// Name expected in member certificates and sent as SNI. Default: the
	// member's host.
	ServerName *string `yaml:"server_name"`
	// Accept any member certificate. Only for tests: it disables
	// authentication of the origin. Default: false.
	InsecureSkipVerify *bool `yaml:"insecure_skip_verify"`
}

// RawRoute picks requests and says what to do with them.
type RawRoute struct {
	// Name used in logs, metrics and error messages: letters, digits, "_",
	// "-" and ".". Required; unique.
	Name *string `yaml:"name"`
	// Which requests the route takes. Every given condition must hold; an
	// empty match takes every request.
	Match RawMatch `yaml:"match"`
	// Name of the pool that serves the route. Give exactly one of pool and
	// redirect, except that a redirect with map_file may have a pool for the
	// paths its map does not list.
	Pool *string `yaml:"pool"`
	// Answer with a redirect instead of forwarding.
	Redirect *RawRedirect `yaml:"redirect"`
	// Change the path sent to the origin. Needs pool.
	Rewrite *RawRewrite `yaml:"rewrite"`
	// Edits to the request before it is forwarded.
	RequestHeaders RawHeaderOps `yaml:"request_headers"`
	// Edits to the response before it is returned to the client.
	ResponseHeaders RawHeaderOps `yaml:"response_headers"`
	// Overrides limits.max_body_bytes for this route. Must be greater than 0.
	MaxBodyBytes *Size `yaml:"max_body_bytes"`
	// Overrides the pool's and the global origin response timeout for this
	// route. 0 or absent keeps the pool's value.
	ResponseTimeout *Duration `yaml:"response_timeout"`
	// How callers of this route authenticate. Absent means public.
	Auth *RawRouteAuth `yaml:"auth"`
	// Rules (CEL) of which at least one must hold for an authenticated
	// request to be let in. An authenticated route with no matching allow
	// rule denies.
	Allow []RawRule `yaml:"allow"`
	// Rules (CEL) that refuse the request when any holds; deny wins over allow.
	Deny []RawRule `yaml:"deny"`
	// Per-route settings of the identity assertion sent to the origin.
	Assertion *RawRouteAssertion `yaml:"assertion"`
	// Whether and how responses of this route are cached. Absent: not cached.
	Cache *RawRouteCache `yaml:"cache"`
	// The edge script (EdgeWorkers bundle) this route runs. Absent: none.
	Script *RawRouteScript `yaml:"script"`
}

// RawMatch selects requests. Paths are compared with the request path after
// it has been decoded and normalized (no "//", no "." or ".." segments).
type RawMatch struct {
	// Host names the request must be for (compared without port and
	// case-insensitively). "*.example.com" matches any name ending in
	// ".example.com" (one or more labels), but not "example.com" itself.
	// Absent or empty matches every host.
	Hosts []string `yaml:"hosts"`
	// The path must be this prefix or continue it at a "/": "/api" matches
	// "/api", "/api/" and "/api/x" but not "/apix". At most one of
	// path_prefix, path_exact and path_pattern.
	PathPrefix *string `yaml:"path_prefix"`
	// The path must be exactly this.
	PathExact *string `yaml:"path_exact"`
	// Segment pattern: "{name}" matches one non-empty segment and a final
	// "{name...}" the rest of the path (zero or more segments), as in
	// "/users/{id}/files/{rest...}". Names are letters, digits and "_", not
	// starting with a digit, and unique; a variable fills a whole segment.
	PathPattern *string `yaml:"path_pattern"`
	// Request methods accepted (upper-cased; any HTTP token, such as GET or
	// PURGE). Absent or empty accepts every method.
	Methods []string `yaml:"methods"`
	// Request header conditions; all must hold.
	Headers []RawHeaderMatch `yaml:"headers"`
}

// RawHeaderMatch is one request header condition. Give value or
// present: true.
type RawHeaderMatch struct {
	// Header name, such as "X-Env". Names with "_" are rejected. Required.
	Name *string `yaml:"name"`
	// One of the header's values must equal this exactly.
	Value *string `yaml:"value"`
	// When true, the header must be present with any value.
	Present *bool `yaml:"present"`
}

// RawRedirect answers with a redirect. Give exactly one of to and map_file.
type RawRedirect struct {
	// Target: an absolute http(s) URL ("https://example.com/new") or a path
	// on the same host starting with "/" (but not "//").
	To *string `yaml:"to"`
	// Redirect status: 301, 302, 303, 307 or 308. Default: 302.
	Status *int `yaml:"status"`
	// Append the request's query string to the target (joined with "&" if
	// the target has a query). Default: false.
	KeepQuery *bool `yaml:"keep_query"`
	// File of bulk redirects (relative to the configuration file's
	// directory). Each line that is not empty and does not start with "#"
	// is "<from-path> <target>": from-path starts with "/" and is compared
	// with the normalized request path; target follows the rules of to.
	// Requests for paths the map does not list go to pool, or get 404.
	MapFile *string `yaml:"map_file"`
}

// RawRewrite changes the path sent to the origin. The result is normalized
// again.
type RawRewrite struct {
	// Prefix removed from the path, at a "/" boundary; starts with "/".
	StripPrefix *string `yaml:"strip_prefix"`
	// Put in place of the stripped prefix; empty or starting with "/".
	// Default: "" (meaning "/").
	ReplacePrefix *string `yaml:"replace_prefix"`
}

// RawHeaderOps edits headers: remove runs first, then set, then add.
// Header names with "_" are rejected, and so are the headers the proxy
// manages itself (Host, Connection, Content-Length, Keep-Alive,
// Proxy-Connection, Te, Trailer, Transfer-Encoding, Upgrade).
type RawHeaderOps struct {
	// Headers replaced with the given value, in file order.
	Set RawHeaderMap `yaml:"set"`
	// Values appended to the headers, in file order.
	Add RawHeaderMap `yaml:"add"`
	// Names of headers deleted.
	Remove []string `yaml:"remove"`
}

// RawHeaderMap is a YAML mapping of header name to value that keeps the
// order of the file.
type RawHeaderMap []RawHeader

// RawHeader is one entry of a RawHeaderMap, as written.
type RawHeader struct {
	// Name is the header name as written (the map key).
	Name string
	// Value is the value's text as written.
	Value string
}
