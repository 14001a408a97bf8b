package config

// RawIdentity lists the token issuers the gateway trusts.
type RawIdentity struct {
	// Identity providers whose tokens are accepted: bearer tokens on routes
	// with auth mode bearer or bearer_or_session, and the login flow's ID
	// tokens. Routes pick among them by name (routes[].auth.issuers).
	Issuers []RawIssuer `yaml:"issuers"`
	// Verified tokens remembered, so that a token seen again costs a lookup
	// instead of a signature check. An entry never outlives the token's exp
	// and is dropped when its key leaves the issuer's key set. 0 turns the
	// cache off. Default: 10000.
	TokenCacheSize *int `yaml:"token_cache_size"`
	// Largest token accepted; a larger one is refused as too_large before
	// any parsing. Default: 16KiB.
	MaxTokenBytes *Size `yaml:"max_token_bytes"`
}

// RawIssuer is one trusted token issuer (an OIDC provider, or a static key
// set).
type RawIssuer struct {
	// Name routes and logs use for the issuer: letters, digits, "_", "-" and
	// ".". Required; unique.
	Name *string `yaml:"name"`
	// The exact iss value of its tokens, such as
	// "https://login.microsoftonline.com/<tenant>/v2.0". Required. Unless
	// jwks_url, jwks_file or hmac_secret_file is given, keys are found by
	// OIDC discovery at <issuer>/.well-known/openid-configuration, whose
	// issuer must equal this value.
	Issuer *string `yaml:"issuer"`
	// Where to fetch the OIDC discovery document instead of the one derived
	// from issuer. An https URL (http only for loopback addresses).
	DiscoveryURL *string `yaml:"discovery_url"`
	// The issuer's JWKS, fetched directly without discovery. An https URL
	// (http only for loopback addresses). At most one of discovery_url,
	// jwks_url, jwks_file and hmac_secret_file.
	JWKSURL *string `yaml:"jwks_url"`
	// A local JWKS file (keys that never rotate, or are deployed with the
	// configuration); read at start and on every reload.
	JWKSFile *string `yaml:"jwks_file"`
	// File holding a shared secret (at least 32 bytes) for HS256/HS384/HS512
	// tokens. Only for issuers that sign with a shared secret; such an issuer
	// has no public keys, and its algorithms must all be HMAC ones.
	HMACSecretFile *string `yaml:"hmac_secret_file"`
	// Accepted aud values; a token must name at least one of them. Required,
	// at least one, none empty.
	Audiences []string `yaml:"audiences"`
	// Accepted signing algorithms: RS256, RS384, RS512, PS256, PS384, PS512,
	// ES256, ES384, ES512, EdDSA, or with hmac_secret_file HS256, HS384,
	// HS512. "none" is never accepted. Absent means pinned to the key types
	// the issuer publishes (each key's alg, else RS256 for RSA keys, ES256,
	// ES384 or ES512 by EC curve, EdDSA for Ed25519), or HS256 with
	// hmac_secret_file.
	Algorithms []string `yaml:"algorithms"`
	// Tolerance for clock differences when checking exp, nbf and iat, from
	// 0s to 5m. Default: 60s.
	ClockSkew *Duration `yaml:"clock_skew"`
	// Longest token lifetime accepted: a token whose exp minus iat is longer
	// is refused (lifetime_too_long), so only short-lived tokens pass.
	// Default: 2h.
	MaxTokenLifetime *Duration `yaml:"max_token_lifetime"`
	// Claims every token must carry, each optionally with accepted values.
	RequiredClaims []RawRequiredClaim `yaml:"required_claims"`
	// Claim conventions of the provider: "generic", "entra", "okta",
	// "google" or "keycloak". It sets the default claim mapping and the rule
	// that tells machine (client-credentials) tokens from user tokens; see
	// docs/identity.md. Default: "generic".
	Preset *string `yaml:"preset"`
	// Where the identity's fields come from, overriding the preset's
	// choices field by field.
	Claims *RawClaimMapping `yaml:"claims"`
	// Google Workspace domains whose accounts are accepted: the token's hd
	// claim must be one of them. Only with preset google.
	AllowedDomains []string `yaml:"allowed_domains"`
	// What to do when the issuer's keys cannot be fetched at start:
	// "fail_start" refuses to start (or to reload); "fail_closed" starts and
	// answers 503 on this issuer's tokens until the keys arrive. Default:
	// "fail_start".
	OnUnreachable *string `yaml:"on_unreachable"`
	// How often the key set is refetched in the background. Absent means as
	// the provider's Cache-Control max-age (or Expires) says, kept between
	// 1m and 24h (1h when the provider says nothing). When given, at least
	// 1s.
	JWKSRefresh *Duration `yaml:"jwks_refresh"`
	// Least time between two refetches of the key set caused by tokens with
	// an unknown key ID, so random key IDs cannot flood the provider. At
	// least 1s. Default: 1m.
	UnknownKIDRefetchInterval *Duration `yaml:"unknown_kid_refetch_interval"`
}

// RawRequiredClaim is one claim every token of an issuer must carry.
type RawRequiredClaim struct {
	// Claim name; a dotted path reaches into objects, as in
	// "realm_access.roles". Required.
	Name *string `yaml:"name"`
	// Accepted values: the claim (or, when it is a list, one of its items)
	// must equal one of them. Absent means any non-empty value.
	Values []string `yaml:"values"`
}

// RawClaimMapping says which claims fill the identity. Each entry is a
// claim name or dotted path. Values given replace the preset's.
type RawClaimMapping struct {
	// Claim holding the subject, the caller's stable ID.
	Subject *string `yaml:"subject"`
	// Claim holding the e-mail address.
	Email *string `yaml:"email"`
	// Claim holding the display name.
	Name *string `yaml:"name"`
	// Claims whose values (a list, or a single string) are the groups; the
	// values of all of them are merged.
	Groups []string `yaml:"groups"`
	// Claims whose values are the roles, merged.
	Roles []string `yaml:"roles"`
	// Claims whose values are the scopes: a list, or one space-separated
	// string as in the scope claim.
	Scopes []string `yaml:"scopes"`
}

// RawRouteAuth says how callers of a route authenticate.
type RawRouteAuth struct {
	// "public" (no authentication), "bearer" (an Authorization: Bearer
	// token, for API callers), "session" (a browser session from the login
	// flow) or "bearer_or_session" (bearer when an Authorization header is
	// present, the session otherwise; a cookie is never taken for a token or
	// the reverse). Required.
	Mode *string `yaml:"mode"`
	// Names of the identity.issuers whose tokens this route accepts. Absent
	// or empty means all of them.
	Issuers []string `yaml:"issuers"`
	// Forward the caller's Authorization header to the origin. Otherwise it
	// is removed, and origins get the gateway's signed identity assertion
	// instead. Default: false.
	ForwardToken *bool `yaml:"forward_token"`
}
