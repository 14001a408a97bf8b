package config

// RawScripts configures edge scripts: Akamai EdgeWorkers code bundles that
// routes run unchanged (see docs/edgeworkers.md).
type RawScripts struct {
	// The code bundles routes can run.
	Bundles []RawBundle `yaml:"bundles"`
	// Which activation the gateway serves: "production" or "staging".
	// When absent: production.
	Network *string `yaml:"network"`
	// File where "edgegate worker activate" records the active version of
	// each bundle per network; it overrides the versions of this file and
	// survives restarts. Relative to the configuration file's directory,
	// which must exist. When absent: edgegate-activations.json beside the
	// configuration file (a missing file means no override).
	ActivationFile *string `yaml:"activation_file"`
	// Request header carrying the caller's location as
	// "country=US,region=CA,city=SANJOSE,continent=NA,zip=95101" for
	// request.userLocation, such as one set by a CDN in front of the
	// gateway. It is read only from trusted proxies (trusted_proxies) and
	// always removed before the script and the origin see the request.
	// When absent: userLocation is undefined.
	LocationHeader *string `yaml:"location_header"`
	// EdgeKV served to the bundles: the EdgeKV helper file (edgekv.js)
	// that bundles carry makes sub-requests to
	// https://edgekv.akamai-edge-svcs.net/api/v1/...; edgegate answers them
	// from an embedded in-memory store instead of Akamai's. When absent:
	// those sub-requests go out like any other.
	EdgeKV *RawEdgeKV `yaml:"edgekv"`
	// MaxMind-format database (.mmdb: GeoIP2 or GeoLite2 City or Country)
	// giving request.userLocation from the client address when
	// location_header gives none. Relative to the configuration file's
	// directory; read into memory at load and reload. When absent:
	// userLocation comes only from location_header.
	GeoIPFile *string `yaml:"geoip_file"`
	// Fill request.device from the User-Agent with edgegate's small rule
	// set (mobile, tablet or desktop; OS, brand and mobile browser; see
	// docs/edgeworkers.md). When absent: false (device is undefined).
	DeviceDetection *bool `yaml:"device_detection"`
}

// RawEdgeKV configures the embedded EdgeKV store.
type RawEdgeKV struct {
	// JSON file seeding the store: {"namespace": {"group": {"item":
	// value}}}; a string value is stored as is, other JSON values as JSON
	// text. Relative to the configuration file's directory. Loaded once:
	// writes by scripts (putText, putJson, delete) live in memory and
	// survive reloads while this file is unchanged. When absent: the
	// store starts empty.
	DataFile *string `yaml:"data_file"`
	// Namespaces that exist besides those of data_file ([A-Za-z0-9_-],
	// up to 32 characters). A request to an unknown namespace gets 400,
	// as from Akamai.
	Namespaces []string `yaml:"namespaces"`
	// Environment variable holding the access token every request must
	// carry in X-Akamai-EdgeDB-Auth (the "value" of edgekv_tokens.js).
	// When absent: any non-empty token is accepted; a request without
	// one is refused with 401 either way.
	TokenEnv *string `yaml:"token_env"`
}

// RawBundle is one EdgeWorkers code bundle and its versions.
type RawBundle struct {
	// Name routes use in script.bundle: [a-z0-9_-]+. Required; unique.
	Name *string `yaml:"name"`
	// A bundle directory or .tgz holding main.js (or main.ts) and
	// bundle.json; its version is bundle.json's edgeworker-version. Give
	// path or versions. "embedded:<name>" names one of the example bundles
	// the binary carries (examples/edgeworkers), such as "embedded:dev".
	Path *string `yaml:"path"`
	// Several versions of the bundle (directories or .tgz files), each
	// with its own edgeworker-version; every one is loaded and checked so
	// that activation switches instantly.
	Versions []string `yaml:"versions"`
	// Resource tier: "basic", "dynamic" or "enterprise", with Akamai's
	// limits of CPU, wall time, memory and sub-requests. When absent:
	// dynamic.
	Tier *string `yaml:"tier"`
	// Version active on the production network. When absent: the last
	// version listed (or the only one).
	Production *string `yaml:"production"`
	// Version active on the staging network. When absent: as production.
	Staging *string `yaml:"staging"`
}

// RawRouteScript is the edge script a route runs.
type RawRouteScript struct {
	// Name of a bundle of scripts.bundles. Required.
	Bundle *string `yaml:"bundle"`
	// Pin a version of the bundle (an edgeworker-version of its versions)
	// instead of following the active one.
	Version *string `yaml:"version"`
	// When a handler fails (an exception or a limit), go on as if it had
	// not run instead of answering 500, like Akamai's continueOnError.
	// A responseProvider failure always falls back to the origin.
	// When absent: false.
	ContinueOnError *bool `yaml:"continue_on_error"`
	// Environment variable holding the debug token. A request with the
	// header "Akamai-EW-Trace: <token>" and a Pragma of akamai-x-ew-debug
	// gets the X-Akamai-EdgeWorker-* debug headers (status, times, memory,
	// logs); without the token nothing is revealed. When absent: no debug
	// headers.
	DebugTokenEnv *string `yaml:"debug_token_env"`
	// Initial PMUSER variables of every request, as in a Property Manager
	// rule: names start with PMUSER_; the total size counts against the
	// 1024-character budget.
	Variables RawHeaderMap `yaml:"variables"`
	// Origin ids that request.route({origin}) may name, mapped to pool
	// names. Any pool name is also an origin id of itself.
	Origins RawHeaderMap `yaml:"origins"`
}
