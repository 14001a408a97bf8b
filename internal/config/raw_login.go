package config

// RawLogin configures browser login and sessions.
type RawLogin struct {
	// The OpenID provider users log in at: the name of an identity.issuers
	// entry, or the provider's issuer URL (https, or http on a loopback
	// address), whose /.well-known/openid-configuration is fetched.
	// Required.
	Issuer *string `yaml:"issuer"`
	// OAuth client ID registered at the provider for this gateway. The
	// provider must allow the redirect URI
	// <scheme>://<host>/.edgegate/callback for every host users visit.
	// Required.
	ClientID *string `yaml:"client_id"`
	// File holding the client secret (surrounding whitespace is trimmed),
	// relative to the configuration file. Give client_secret_file or
	// client_secret_env, never the secret itself; neither for a public
	// client (PKCE only).
	ClientSecretFile *string `yaml:"client_secret_file"`
	// Environment variable holding the client secret, read at start and on
	// reload.
	ClientSecretEnv *string `yaml:"client_secret_env"`
	// Scopes requested; "openid" is always sent. Add offline_access if the
	// provider needs it to issue refresh tokens. Default: [openid, email,
	// profile].
	Scopes []string `yaml:"scopes"`
	// Where the provider sends the browser after RP-initiated logout: an
	// absolute http(s) URL registered at the provider, or a path on the
	// gateway. When absent the browser ends on /.edgegate/logout's own
	// page.
	PostLogoutRedirect *string `yaml:"post_logout_redirect"`
	// Name of the session cookie. It must start with "__Host-" (the
	// browser then keeps it to this exact host, Secure, Path=/). Default:
	// "__Host-edgegate".
	CookieName *string `yaml:"cookie_name"`
	// Session lifetime and storage.
	Session RawSessionConfig `yaml:"session"`
	// Hosts (host or host:port, exact match) that a return URL after login
	// or logout may name besides the host the request came in on. When
	// absent, only paths on the requested host are accepted.
	AllowedReturnHosts []string `yaml:"allowed_return_hosts"`
}

// RawSessionConfig sets how long browser sessions last and where they live.
type RawSessionConfig struct {
	// A session without a request for this long ends. Default: 1h.
	IdleTimeout *Duration `yaml:"idle_timeout"`
	// A session ends this long after login, whatever happens. Must be at
	// least idle_timeout. Default: 12h.
	AbsoluteTimeout *Duration `yaml:"absolute_timeout"`
	// Tokens are refreshed this long before they expire, when the provider
	// gave a refresh token; without one the session ends with the token.
	// Default: 1m.
	RefreshBefore *Duration `yaml:"refresh_before"`
	// Where sessions are kept: "memory" (this process; sessions are lost on
	// restart). Default: "memory".
	Store *string `yaml:"store"`
	// Most sessions kept in memory; when full the one closest to expiry is
	// dropped. 1 to 10000000. Default: 100000.
	MaxSessions *int `yaml:"max_sessions"`
}

// RawDevProvider configures the embedded development OpenID provider.
type RawDevProvider struct {
	// Where the provider listens, host:port. Must be a loopback address
	// unless force is true. Required.
	Address *string `yaml:"address"`
	// Issuer URL the provider announces (iss of its tokens). Default:
	// http://<address>.
	Issuer *string `yaml:"issuer"`
	// Allow a non-loopback address. The dev provider has no real
	// authentication: never expose it. Default: false.
	Force *bool `yaml:"force"`
	// Dev users offered by the provider's user picker. At least one.
	Users []RawDevUser `yaml:"users"`
	// OAuth clients the provider accepts. At least one.
	Clients []RawDevClient `yaml:"clients"`
	// Lifetime of the access and ID tokens it issues (refresh tokens last
	// 24h). Default: 5m.
	TokenLifetime *Duration `yaml:"token_lifetime"`
}

// RawDevUser is one user of the dev provider.
type RawDevUser struct {
	// User name, also the subject (sub) of its tokens: letters, digits,
	// ".", "_" and "-". Required; unique.
	Name *string `yaml:"name"`
	// Email address claimed for the user (email_verified is true).
	Email *string `yaml:"email"`
	// Groups claimed for the user ("groups" claim).
	Groups []string `yaml:"groups"`
	// Roles claimed for the user ("roles" claim).
	Roles []string `yaml:"roles"`
	// Password the picker asks for. When absent, picking the user is
	// enough.
	Password *string `yaml:"password"`
}

// RawDevClient is one OAuth client of the dev provider.
type RawDevClient struct {
	// Client ID. Required; unique.
	ID *string `yaml:"id"`
	// Client secret. When absent the client is public and must use PKCE.
	Secret *string `yaml:"secret"`
	// Redirect URIs the client may use (exact match). Required for
	// browser clients; a client with a secret and no redirect URIs is a
	// machine client (client_credentials only).
	RedirectURIs []string `yaml:"redirect_uris"`
}
