package config

import (
	"strconv"
	"strings"
	"time"
)

// Every default of the schema lives here. Validate applies them, and
// fieldDefaults feeds the "Default" column of docs/config.md; a test checks
// that the raw*.go comments agree.
const (
	DefaultListenerHTTP2 = true
	DefaultListenerH2C   = false
	DefaultTLSMinVersion = "1.2"

	DefaultAdminAddress = "127.0.0.1:9901"

	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxBodyBytes   = 10 << 20
	DefaultMaxURIBytes    = 8 << 10

	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultReadTimeout           = 60 * time.Second
	DefaultWriteTimeout          = 0 * time.Second
	DefaultIdleTimeout           = 120 * time.Second
	DefaultOriginConnectTimeout  = 5 * time.Second
	DefaultOriginResponseTimeout = 30 * time.Second
	DefaultShutdownTimeout       = 30 * time.Second

	DefaultLogLevel   = "info"
	DefaultLogAccess  = true
	DefaultAccessFile = "-"
	// DefaultAccessSample logs every request.
	DefaultAccessSample = 1.0

	DefaultTraceSampleRatio = 0.01
	DefaultTraceServiceName = "edgegate"

	DefaultMemberWeight        = 1
	DefaultBalance             = BalanceRoundRobin
	DefaultProtocol            = ProtocolHTTP1
	DefaultRetries             = 1
	DefaultMaxIdleConnsPerHost = 256

	DefaultHealthInterval           = 5 * time.Second
	DefaultHealthTimeout            = 2 * time.Second
	DefaultHealthyThreshold         = 2
	DefaultUnhealthyThreshold       = 3
	DefaultHealthExpectStatus       = 0
	DefaultPassiveMaxFailures       = 5
	DefaultPassiveWindow            = 10 * time.Second
	DefaultPassiveEjectFor          = 30 * time.Second
	DefaultOriginInsecureSkipVerify = false

	DefaultRedirectStatus    = 302
	DefaultRedirectKeepQuery = false
	DefaultReplacePrefix     = ""
)

// Audit trail defaults.
const (
	DefaultAuditPolicy             = "fail_closed"
	DefaultAuditDurability         = "write"
	DefaultAuditSyncInterval       = time.Second
	DefaultAuditRotateBytes        = 100 << 20
	DefaultAuditRotateEvery        = 24 * time.Hour
	DefaultAuditBatchSize          = 500
	DefaultAuditTimeout            = 10 * time.Second
	DefaultAuditSpoolMaxBytes      = 1 << 30
	DefaultAuditCheckpointEvery    = 1000
	DefaultAuditCheckpointInterval = time.Minute
)

// Identity (token issuers) and routes[].auth defaults.
const (
	DefaultTokenCacheSize            = 10000
	DefaultMaxTokenBytes             = 16 << 10
	DefaultClockSkew                 = 60 * time.Second
	DefaultMaxTokenLifetime          = 2 * time.Hour
	DefaultPreset                    = PresetGeneric
	DefaultOnUnreachable             = OnUnreachableFailStart
	DefaultUnknownKIDRefetchInterval = time.Minute
	DefaultRouteForwardToken         = false
)

// Browser login, session and dev_provider defaults.
const (
	DefaultLoginCookieName      = "__Host-edgegate"
	DefaultSessionIdleTimeout   = time.Hour
	DefaultSessionAbsolute      = 12 * time.Hour
	DefaultSessionRefreshBefore = time.Minute
	DefaultSessionStore         = "memory"
	DefaultSessionMaxSessions   = 100_000
	DefaultDevProviderForce     = false
	DefaultDevTokenLifetime     = 5 * time.Minute
)

// DefaultLoginScopes are requested when login.scopes is absent (a function,
// so no caller can change the list for the others).
func DefaultLoginScopes() []string { return []string{"openid", "email", "profile"} }

// Identity assertion and key ring defaults.
const (
	DefaultAssertionHeader        = "Edgegate-Assertion"
	DefaultAssertionIssuer        = "edgegate"
	DefaultAssertionTTL           = 2 * time.Minute
	DefaultForwardIdentityHeaders = false
	DefaultRequestIDClaim         = false
	DefaultRouteAssertionDisabled = false
	DefaultKeystore               = "edgegate-keys.json"
	DefaultMasterKeyEnv           = "EDGEGATE_MASTER_KEY"
	DefaultKeyAlgorithm           = "ES256"
	DefaultKeyRotation            = 24 * time.Hour
	DefaultKeyRetireAfter         = time.Hour
	DefaultSessionRetireAfter     = 168 * time.Hour
)

// defaultListenerName names the listener at index i when the file gives no name.
func defaultListenerName(i int) string { return "listener-" + strconv.Itoa(i) }

// fieldDefaults maps each documented field path (list items written "[]")
// to its default as it would be written in YAML.
func fieldDefaults() map[string]string {
	q := strconv.Quote
	b := strconv.FormatBool
	d := func(t time.Duration) string { return formatDuration(t) }
	i := strconv.Itoa
	return map[string]string{
		"listeners[].name":                                q("listener-<index>"),
		"listeners[].http2":                               b(DefaultListenerHTTP2),
		"listeners[].h2c":                                 b(DefaultListenerH2C),
		"listeners[].tls.min_version":                     q(DefaultTLSMinVersion),
		"admin.address":                                   q(DefaultAdminAddress),
		"trusted_proxies":                                 "empty (trust nobody)",
		"limits.max_header_bytes":                         formatSize(DefaultMaxHeaderBytes),
		"limits.max_body_bytes":                           formatSize(DefaultMaxBodyBytes),
		"limits.max_uri_bytes":                            formatSize(DefaultMaxURIBytes),
		"timeouts.read_header":                            d(DefaultReadHeaderTimeout),
		"timeouts.read":                                   d(DefaultReadTimeout),
		"timeouts.write":                                  d(DefaultWriteTimeout),
		"timeouts.idle":                                   d(DefaultIdleTimeout),
		"timeouts.origin_connect":                         d(DefaultOriginConnectTimeout),
		"timeouts.origin_response":                        d(DefaultOriginResponseTimeout),
		"timeouts.shutdown":                               d(DefaultShutdownTimeout),
		"log.level":                                       q(DefaultLogLevel),
		"log.access":                                      b(DefaultLogAccess),
		"log.access_file":                                 q(DefaultAccessFile),
		"log.access_sample":                               "1",
		"tracing.endpoint":                                "none (tracing off)",
		"tracing.sample_ratio":                            "0.01",
		"tracing.service_name":                            q(DefaultTraceServiceName),
		"pools[].members[].weight":                        i(DefaultMemberWeight),
		"pools[].balance":                                 q(string(DefaultBalance)),
		"pools[].protocol":                                q(string(DefaultProtocol)),
		"pools[].health_check.host":                       "the member's host",
		"pools[].tls.server_name":                         "the member's host",
		"pools[].health_check.interval":                   d(DefaultHealthInterval),
		"pools[].health_check.timeout":                    d(DefaultHealthTimeout),
		"pools[].health_check.healthy_threshold":          i(DefaultHealthyThreshold),
		"pools[].health_check.unhealthy_threshold":        i(DefaultUnhealthyThreshold),
		"pools[].health_check.expect_status":              i(DefaultHealthExpectStatus),
		"pools[].passive.max_failures":                    i(DefaultPassiveMaxFailures),
		"pools[].passive.window":                          d(DefaultPassiveWindow),
		"pools[].passive.eject_for":                       d(DefaultPassiveEjectFor),
		"pools[].retries":                                 i(DefaultRetries),
		"pools[].tls.insecure_skip_verify":                b(DefaultOriginInsecureSkipVerify),
		"pools[].max_idle_conns_per_host":                 i(DefaultMaxIdleConnsPerHost),
		"pools[].max_conns_per_member":                    "0 (no limit)",
		"routes[].redirect.status":                        i(DefaultRedirectStatus),
		"routes[].redirect.keep_query":                    b(DefaultRedirectKeepQuery),
		"routes[].rewrite.replace_prefix":                 q(DefaultReplacePrefix),
		"audit.policy":                                    q(DefaultAuditPolicy),
		"audit.durability":                                q(DefaultAuditDurability),
		"audit.sync_interval":                             d(DefaultAuditSyncInterval),
		"audit.sinks[].name":                              "the type",
		"audit.sinks[].rotate_size":                       formatSize(DefaultAuditRotateBytes),
		"audit.sinks[].rotate_every":                      i(int(DefaultAuditRotateEvery/time.Hour)) + "h",
		"audit.sinks[].batch_size":                        i(DefaultAuditBatchSize),
		"audit.sinks[].timeout":                           d(DefaultAuditTimeout),
		"audit.spool.max_bytes":                           formatSize(DefaultAuditSpoolMaxBytes),
		"audit.checkpoint.every":                          i(DefaultAuditCheckpointEvery),
		"audit.checkpoint.interval":                       i(int(DefaultAuditCheckpointInterval/time.Minute)) + "m",
		"identity.token_cache_size":                       i(DefaultTokenCacheSize),
		"identity.max_token_bytes":                        formatSize(DefaultMaxTokenBytes),
		"identity.issuers[].clock_skew":                   d(DefaultClockSkew),
		"identity.issuers[].max_token_lifetime":           i(int(DefaultMaxTokenLifetime/time.Hour)) + "h",
		"identity.issuers[].preset":                       q(string(DefaultPreset)),
		"identity.issuers[].on_unreachable":               q(string(DefaultOnUnreachable)),
		"identity.issuers[].unknown_kid_refetch_interval": i(int(DefaultUnknownKIDRefetchInterval/time.Minute)) + "m",
		"routes[].auth.forward_token":                     b(DefaultRouteForwardToken),
		"login.scopes":                                    "[" + strings.Join(DefaultLoginScopes(), ", ") + "]",
		"login.cookie_name":                               q(DefaultLoginCookieName),
		"login.session.idle_timeout":                      i(int(DefaultSessionIdleTimeout/time.Hour)) + "h",
		"login.session.absolute_timeout":                  i(int(DefaultSessionAbsolute/time.Hour)) + "h",
		"login.session.refresh_before":                    i(int(DefaultSessionRefreshBefore/time.Minute)) + "m",
		"login.session.store":                             q(DefaultSessionStore),
		"login.session.max_sessions":                      i(DefaultSessionMaxSessions),
		"dev_provider.issuer":                             "http://<address>",
		"dev_provider.force":                              b(DefaultDevProviderForce),
		"dev_provider.token_lifetime":                     i(int(DefaultDevTokenLifetime/time.Minute)) + "m",
		"assertion.header":                                q(DefaultAssertionHeader),
		"assertion.issuer":                                q(DefaultAssertionIssuer),
		"assertion.ttl":                                   i(int(DefaultAssertionTTL/time.Minute)) + "m",
		"assertion.forward_identity_headers":              b(DefaultForwardIdentityHeaders),
		"assertion.request_id_claim":                      b(DefaultRequestIDClaim),
		"routes[].assertion.audience":                     "the name of the route's pool",
		"routes[].assertion.disabled":                     b(DefaultRouteAssertionDisabled),
		"keys.keystore":                                   DefaultKeystore + " beside the configuration file",
		"keys.master_key_env":                             q(DefaultMasterKeyEnv),
		"keys.algorithm":                                  q(DefaultKeyAlgorithm),
		"keys.rotation":                                   i(int(DefaultKeyRotation/time.Hour)) + "h",
		"keys.retire_after":                               i(int(DefaultKeyRetireAfter/time.Hour)) + "h",
		"keys.session_retire_after":                       i(int(DefaultSessionRetireAfter/time.Hour)) + "h",
	}
}
