package config

// RawAssertion configures the signed identity assertion: a short-lived JWT
// the gateway adds to every authenticated request it forwards, so the
// origin can check who the caller is and that the request came through the
// gateway (see docs/assertions.md). Public (anonymous) requests carry none.
type RawAssertion struct {
	// Request header that carries the assertion. Every copy a client sent
	// is removed first. A header name without "_"; not one the proxy
	// manages (Host, Connection, ...), nor Authorization, Cookie or
	// X-Request-Id. Default: "Edgegate-Assertion".
	Header *string `yaml:"header"`
	// The assertion's issuer (iss), which origins check: a name or URL for
	// this gateway, such as "https://edge.example.com". Default:
	// "edgegate".
	Issuer *string `yaml:"issuer"`
	// Lifetime of an assertion, from 1s to 5m. An assertion is reused for
	// the same caller and origin while at least half of it remains, and it
	// never outlives the caller's own token or session. Default: 2m.
	TTL *Duration `yaml:"ttl"`
	// Also send X-Forwarded-User, X-Forwarded-Email and X-Forwarded-Groups
	// (comma-separated), taken from the verified identity only. They are
	// unsigned: an origin reachable other than through the gateway must
	// verify the assertion instead. Client copies are always removed.
	// Default: false.
	ForwardIdentityHeaders *bool `yaml:"forward_identity_headers"`
	// Sign one assertion per request, with the request ID as the "rid"
	// claim, instead of reusing assertions. Costs one signature per
	// request. Without it the request ID is only in X-Request-Id.
	// Default: false.
	RequestIDClaim *bool `yaml:"request_id_claim"`
}

// RawRouteAssertion is a route's assertion settings.
type RawRouteAssertion struct {
	// Audience (aud) of the assertions sent on this route: what the origin
	// expects. Default: the name of the route's pool.
	Audience *string `yaml:"audience"`
	// Send no assertion on this route (client copies are still removed).
	// Default: false.
	Disabled *bool `yaml:"disabled"`
}

// RawKeys configures the gateway's key ring: the keys that sign
// assertions and audit checkpoints and seal session cookies. The gateway
// generates them, keeps them in an encrypted keystore file, and rotates
// them on its own. Without a keys section the keys live in memory only and
// change at every start (fine for development; origins refetch the JWKS,
// but sessions do not survive a restart).
type RawKeys struct {
	// Keystore file, sealed with the master key (AES-256-GCM). Relative
	// paths are relative to the configuration file's directory, which must
	// exist. Created with new keys on first start; a keystore that cannot
	// be opened stops the gateway and is never overwritten. Default:
	// edgegate-keys.json beside the configuration file.
	Keystore *string `yaml:"keystore"`
	// Environment variable holding the master key: the base64 of 32 random
	// bytes (openssl rand -base64 32), or any secret of at least 32
	// characters. Give this or master_key_file, never the key itself.
	// Default: "EDGEGATE_MASTER_KEY".
	MasterKeyEnv *string `yaml:"master_key_env"`
	// File holding the master key instead (same format; a trailing newline
	// is ignored), such as a mounted secret.
	MasterKeyFile *string `yaml:"master_key_file"`
	// Signing algorithm of new keys: "ES256" (ECDSA P-256) or "EdDSA"
	// (Ed25519). A change applies from the next key on. Default: "ES256".
	Algorithm *string `yaml:"algorithm"`
	// How long each key signs. A new key is published in the JWKS one
	// period before it starts signing. At least 1m. Default: 24h.
	Rotation *Duration `yaml:"rotation"`
	// How long a signing key stays published after it stops signing, so
	// its last assertions can still be checked: at least assertion.ttl
	// plus 1m of clock skew. Default: 1h.
	RetireAfter *Duration `yaml:"retire_after"`
	// How long a session-cookie key still opens cookies after a newer one
	// took over: at least the longest session. Default: 168h.
	SessionRetireAfter *Duration `yaml:"session_retire_after"`
}
