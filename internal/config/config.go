// Package config turns one YAML file into a validated, typed *Config.
//
// The flow is Parse → Validate → (in package gateway) Compile. Parse reads the
// file into the Raw* types, which mirror the YAML one to one and keep every
// scalar as written; Validate checks every field, fills defaults from one
// place (defaults.go) and returns a *Config whose fields are typed (durations,
// URLs, prefixes). Every problem found is reported, not only the first, each
// with file, line, column and field path (see Error).
//
// *Config is treated as immutable once returned: the gateway compiles it into
// a snapshot and never writes to it.
package config

import (
	"net/netip"
	"net/url"
	"time"
)

// Config is a validated configuration. Build one with Load or Validate; the
// zero value is not useful.
type Config struct {
	// File is the path the configuration was read from ("" for in-memory).
	File string
	// Hash is the SHA-256 (hex) of the source bytes and of every file the
	// validator read (key sets, secrets, certificates, redirect maps), used
	// to skip reloads of an unchanged configuration and to name the active
	// version in logs.
	Hash string
	// inputs are the files read while validating, folded into Hash.
	inputs []fileDigest
	// Version is the schema version declared by the file (currently 1).
	Version int

	Listeners      []Listener
	Admin          Admin
	TrustedProxies []netip.Prefix
	Limits         Limits
	Timeouts       Timeouts
	Log            Log
	Pools          []Pool
	Routes         []Route

	Identity    Identity
	Login       *Login       // nil when browser login is not configured
	DevProvider *DevProvider // nil unless the embedded dev provider is configured
	Policy      Policy
	Assertion   Assertion
	Keys        Keys
	Audit       Audit
	Tracing     Tracing
	Cache       Cache
	Scripts     Scripts

	// Positions maps field paths ("routes[2].match.path") to where they
	// stand in File, so later stages (route compilation) can report errors
	// at the right line.
	Positions *Positions
}

// Listener is one public socket.
type Listener struct {
	Name    string
	Address string
	// TLS is nil for plain HTTP.
	TLS *ServerTLS
	// HTTP2 enables HTTP/2 over TLS (ALPN h2). Ignored without TLS.
	HTTP2 bool
	// H2C enables prior-knowledge cleartext HTTP/2 on a plain listener.
	// The Upgrade: h2c dance is never honoured (see package hygiene).
	H2C bool
}

// ServerTLS names certificate files for a TLS listener.
type ServerTLS struct {
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, requires and verifies client certificates.
	ClientCAFile string
	// MinVersion is a crypto/tls version constant.
	MinVersion uint16
}

// Admin is the private operations listener (/healthz, /readyz, /metrics).
type Admin struct {
	// Address is where the admin listener binds; "" disables it.
	Address string
}

// Limits bound what a client may send.
type Limits struct {
	MaxHeaderBytes int
	MaxBodyBytes   int64
	// MaxURIBytes bounds the request target.
	MaxURIBytes int
}

// Timeouts are the gateway-wide timeouts; routes and pools may override
// the origin ones.
type Timeouts struct {
	ReadHeader     time.Duration
	Read           time.Duration
	Write          time.Duration
	Idle           time.Duration
	OriginConnect  time.Duration
	OriginResponse time.Duration
	Shutdown       time.Duration
}

// Log configures the structured logs.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string
	// Access enables the JSON access log (one line per request).
	Access bool
	// AccessFile is where the access log goes; "" or "-" is standard output.
	AccessFile string
	// AccessSample is the fraction of successful requests logged (errors always are).
	AccessSample float64
}

// Balance names a load-balancing algorithm.
type Balance string

const (
	BalanceRoundRobin    Balance = "round_robin"
	BalanceLeastRequests Balance = "least_requests"
	BalanceHash          Balance = "hash"
)

// HashKind names what consistent hashing is computed over.
type HashKind string

const (
	HashHeader   HashKind = "header"
	HashCookie   HashKind = "cookie"
	HashClientIP HashKind = "client_ip"
)

// Protocol names the protocol spoken to origins.
type Protocol string

const (
	// ProtocolHTTP1 speaks HTTP/1.1 (over TLS for https members).
	ProtocolHTTP1 Protocol = "http1"
	// ProtocolHTTP2 speaks HTTP/2: over TLS for https members, prior-knowledge
	// cleartext (h2c) for http members. gRPC origins need this.
	ProtocolHTTP2 Protocol = "http2"
	// ProtocolAuto negotiates h2 by ALPN over TLS, HTTP/1.1 otherwise.
	ProtocolAuto Protocol = "auto"
)

// Pool is a set of interchangeable origin members.
type Pool struct {
	Name     string
	Members  []Member
	Balance  Balance
	Hash     HashKey
	Protocol Protocol
	// HealthCheck is nil when active checks are off.
	HealthCheck *HealthCheck
	Passive     PassiveHealth
	// Retries is how many other members an idempotent request (or one
	// whose connection failed before anything was sent) may be retried on.
	Retries int
	// Failover names the pool used when this one has no healthy member.
	Failover string
	// TLS configures TLS and mTLS toward https members; nil uses system roots.
	TLS                 *OriginTLS
	MaxIdleConnsPerHost int
	// MaxConnsPerMember bounds requests in flight per member; 0: no limit.
	MaxConnsPerMember int
	// ConnectTimeout and ResponseTimeout override Timeouts when non-zero.
	ConnectTimeout  time.Duration
	ResponseTimeout time.Duration
}

// Member is one origin server.
type Member struct {
	// URL has scheme http or https, a host and port, and no path.
	URL    *url.URL
	Weight int
}

// HashKey says what a hash pool hashes.
type HashKey struct {
	Kind HashKind
	// Name is the header or cookie name (empty for client_ip).
	Name string
}

// HealthCheck configures active health checks.
type HealthCheck struct {
	Path               string
	Host               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	// ExpectStatus is the status a healthy member answers; 0 means any 2xx.
	ExpectStatus int
}

// PassiveHealth ejects members that fail real requests.
type PassiveHealth struct {
	// MaxFailures within Window ejects a member; 0 turns passive checks off.
	MaxFailures int
	Window      time.Duration
	// EjectFor is how long an ejected member is left out before it is tried again.
	EjectFor time.Duration
}

// OriginTLS is TLS toward origins; CertFile/KeyFile make it mTLS.
type OriginTLS struct {
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
}

// Route sends matching requests to a pool or answers them with a redirect.
type Route struct {
	Name string
	// Index is the route's position in the file, and FieldPath its path
	// ("routes[3]") for error messages.
	Index     int
	FieldPath string

	Match Match
	// Exactly one of Pool and Redirect is set, unless Redirect has a Map
	// (then Pool, when set, serves paths the map does not list).
	Pool     string
	Redirect *Redirect
	Rewrite  *Rewrite

	RequestHeaders  HeaderOps
	ResponseHeaders HeaderOps

	// MaxBodyBytes overrides Limits.MaxBodyBytes when non-zero.
	MaxBodyBytes int64
	// ResponseTimeout overrides the pool and global origin response timeout when non-zero.
	ResponseTimeout time.Duration

	Auth      RouteAuth
	Allow     []Rule
	Deny      []Rule
	Assertion RouteAssertion
	Cache     RouteCache
	Script    RouteScript
}

// PathKind says how Match.Path is compared.
type PathKind string

const (
	// PathAny matches every path (no path given).
	PathAny PathKind = ""
	// PathExact matches the normalized path exactly.
	PathExact PathKind = "exact"
	// PathPrefix matches the path and everything below it, at segment
	// boundaries: prefix /api matches /api and /api/x but not /apix.
	PathPrefix PathKind = "prefix"
	// PathPattern matches segment patterns like /users/{id}/files/{rest...}.
	PathPattern PathKind = "pattern"
)

// Match selects requests for a route. Empty fields match everything.
type Match struct {
	// Hosts are lower-case names without port: exact ("api.example.com")
	// or wildcard ("*.example.com", which matches one or more labels in
	// front of example.com but not example.com itself).
	Hosts    []string
	PathKind PathKind
	Path     string
	// Methods are upper-case; empty matches every method.
	Methods []string
	Headers []HeaderMatch
}

// HeaderMatch matches one request header.
type HeaderMatch struct {
	// Name is in canonical form (textproto.CanonicalMIMEHeaderKey).
	Name string
	// Value must equal one of the header's values exactly, unless Present.
	Value string
	// Present only requires the header to be there with any value.
	Present bool
}

// Redirect answers with a redirect instead of forwarding.
type Redirect struct {
	// To is the target: an absolute URL, or a path on the same host.
	// Empty when only Map is used.
	To     string
	Status int
	// KeepQuery appends the request's query to the target.
	KeepQuery bool
	// Map holds bulk redirects (normalized request path → target), loaded
	// from MapFile; a path not in the map falls through to Pool or 404.
	Map     map[string]string
	MapFile string
}

// Rewrite changes the path sent to the origin. The result is normalized again.
type Rewrite struct {
	// StripPrefix is removed from the front of the path (at a segment boundary).
	StripPrefix string
	// ReplacePrefix is put in its place ("" means "/").
	ReplacePrefix string
}

// HeaderOps edits headers; Remove runs first, then Set, then Add.
type HeaderOps struct {
	Set    []Header
	Add    []Header
	Remove []string
}

// Header is one name and value; Name is canonical.
type Header struct {
	Name  string
	Value string
}

// Position is a place in a file, 1-based.
type Position struct {
	Line   int
	Column int
}

// Positions records where each field path stands in the source file.
type Positions struct {
	File  string
	paths map[string]Position
}

// NewPositions returns an empty index for file.
func NewPositions(file string) *Positions {
	return &Positions{File: file, paths: make(map[string]Position)}
}

// Set records that path stands at pos.
func (p *Positions) Set(path string, pos Position) { p.paths[path] = pos }

// Lookup returns the position of path, or of the nearest enclosing path that
// has one ("routes[2].match.path" falls back to "routes[2].match", then
// "routes[2]"), so an error always points somewhere useful.
func (p *Positions) Lookup(path string) Position {
	if p == nil {
		return Position{}
	}
	for {
		if pos, ok := p.paths[path]; ok {
			return pos
		}
		i := lastSep(path)
		if i < 0 {
			return Position{}
		}
		path = path[:i]
	}
}

// lastSep finds the end of the parent of a field path: the last '.' or '['.
func lastSep(path string) int {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '.' || path[i] == '[' {
			return i
		}
	}
	return -1
}
