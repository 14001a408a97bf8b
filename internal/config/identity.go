package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Limits of the identity section (its defaults are in defaults.go).
const (
	// MaxIssuers bounds identity.issuers (routes select issuers with a
	// 64-bit mask).
	MaxIssuers = 64
	// maxJWKSFileBytes bounds jwks_file; real key sets are a few KiB.
	maxJWKSFileBytes = 1 << 20
	// MinHMACSecretBytes is the shortest accepted HMAC secret (RFC 7518 §3.2:
	// a key at least as long as the hash output).
	MinHMACSecretBytes = 32
)

// Preset names a provider's claim conventions.
type Preset string

const (
	PresetGeneric  Preset = "generic"
	PresetEntra    Preset = "entra"
	PresetOkta     Preset = "okta"
	PresetGoogle   Preset = "google"
	PresetKeycloak Preset = "keycloak"
)

// OnUnreachable says what happens when an issuer's keys cannot be fetched at start.
type OnUnreachable string

const (
	OnUnreachableFailStart  OnUnreachable = "fail_start"
	OnUnreachableFailClosed OnUnreachable = "fail_closed"
)

// AuthMode is how callers of a route authenticate.
type AuthMode string

const (
	AuthPublic          AuthMode = "public"
	AuthBearer          AuthMode = "bearer"
	AuthSession         AuthMode = "session"
	AuthBearerOrSession AuthMode = "bearer_or_session"
)

// Identity is the validated trusted-issuer configuration.
type Identity struct {
	Issuers []Issuer
	// TokenCacheSize is the number of verified tokens remembered; 0 is off.
	TokenCacheSize int
	// MaxTokenBytes bounds a token's length.
	MaxTokenBytes int
}

// Issuer is one trusted token issuer.
type Issuer struct {
	Name string
	// Issuer is the exact iss value.
	Issuer string
	// Exactly one key source is set: DiscoveryURL (the default, derived
	// from Issuer), JWKSURL, JWKSFile (resolved path) or HMACSecretFile
	// (resolved path; the secret is read by the gateway, never held here).
	DiscoveryURL   string
	JWKSURL        string
	JWKSFile       string
	HMACSecretFile string
	Audiences      []string
	// Algorithms is empty when pinned to the published key types.
	Algorithms       []string
	ClockSkew        time.Duration
	MaxTokenLifetime time.Duration
	RequiredClaims   []RequiredClaim
	Preset           Preset
	// Claims is the mapping with the preset's defaults filled in.
	Claims         ClaimMapping
	AllowedDomains []string
	OnUnreachable  OnUnreachable
	// JWKSRefresh is 0 when the provider's cache headers decide.
	JWKSRefresh               time.Duration
	UnknownKIDRefetchInterval time.Duration
}

// RequiredClaim is a claim every token of an issuer must carry.
type RequiredClaim struct {
	// Name is a claim name or dotted path.
	Name string
	// Values are the accepted values; empty means any non-empty value.
	Values []string
}

// ClaimMapping names the claims (dotted paths) that fill the identity.
type ClaimMapping struct {
	Subject string
	Email   string
	Name    string
	Groups  []string
	Roles   []string
	Scopes  []string
}

// RouteAuth is a route's validated authentication setting; the zero value is public.
type RouteAuth struct {
	// Mode is "" (public) or one of the AuthMode constants.
	Mode AuthMode
	// Issuers are the names of the accepted issuers; empty means all.
	Issuers []string
	// ForwardToken keeps the Authorization header on the forwarded request.
	ForwardToken bool
}

// Public reports whether the route needs no authentication.
func (a RouteAuth) Public() bool { return a.Mode == "" || a.Mode == AuthPublic }

// presetMappings are the claim conventions of each preset; a configured
// claims entry replaces the field it names.
var presetMappings = map[Preset]ClaimMapping{
	PresetGeneric:  {Subject: "sub", Email: "email", Name: "name", Groups: []string{"groups"}, Roles: []string{"roles"}, Scopes: []string{"scope", "scp"}},
	PresetEntra:    {Subject: "sub", Email: "email", Name: "name", Groups: []string{"groups"}, Roles: []string{"roles"}, Scopes: []string{"scp"}},
	PresetOkta:     {Subject: "sub", Email: "email", Name: "name", Groups: []string{"groups"}, Roles: []string{"roles"}, Scopes: []string{"scp", "scope"}},
	PresetGoogle:   {Subject: "sub", Email: "email", Name: "name", Scopes: []string{"scope"}},
	PresetKeycloak: {Subject: "sub", Email: "email", Name: "name", Groups: []string{"groups"}, Roles: []string{"realm_access.roles"}, Scopes: []string{"scope"}},
}

// asymmetricAlgs and hmacAlgs are the algorithms an issuer may allow.
var (
	asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	hmacAlgs       = []string{"HS256", "HS384", "HS512"}
)

func (v *validator) identity(raw *RawConfig) Identity {
	r := raw.Identity
	out := Identity{
		TokenCacheSize: v.intIn("identity.token_cache_size", r.TokenCacheSize, DefaultTokenCacheSize, 0, 10_000_000),
		MaxTokenBytes:  int(v.size("identity.max_token_bytes", r.MaxTokenBytes, DefaultMaxTokenBytes)),
	}
	if out.MaxTokenBytes > 1<<20 {
		v.errorf("identity.max_token_bytes", "must be at most 1MiB")
	}
	if len(r.Issuers) > MaxIssuers {
		v.errorf("identity.issuers", "at most %d issuers are supported, got %d", MaxIssuers, len(r.Issuers))
	}
	names := make(map[string]int)
	for i := range r.Issuers {
		p := idx("identity.issuers", i)
		is := v.issuer(p, &r.Issuers[i])
		if is.Name != "" {
			if first, dup := names[is.Name]; dup {
				v.errorf(p+".name", "issuer name %q is already used by identity.issuers[%d]; names must be unique", is.Name, first)
			} else {
				names[is.Name] = i
			}
		}
		out.Issuers = append(out.Issuers, is)
	}
	return out
}

func (v *validator) issuer(p string, r *RawIssuer) Issuer {
	is := Issuer{
		ClockSkew:                 v.duration(p+".clock_skew", r.ClockSkew, DefaultClockSkew, nonNegative),
		MaxTokenLifetime:          v.duration(p+".max_token_lifetime", r.MaxTokenLifetime, DefaultMaxTokenLifetime, positive),
		JWKSRefresh:               v.duration(p+".jwks_refresh", r.JWKSRefresh, 0, positive),
		UnknownKIDRefetchInterval: v.duration(p+".unknown_kid_refetch_interval", r.UnknownKIDRefetchInterval, DefaultUnknownKIDRefetchInterval, positive),
		Preset:                    Preset(str(r.Preset, string(DefaultPreset))),
		OnUnreachable:             OnUnreachable(str(r.OnUnreachable, string(DefaultOnUnreachable))),
	}
	if is.ClockSkew > 5*time.Minute {
		v.errorf(p+".clock_skew", "must be at most 5m, got %q", string(*r.ClockSkew))
	}
	if r.JWKSRefresh != nil && is.JWKSRefresh > 0 && is.JWKSRefresh < time.Second {
		v.errorf(p+".jwks_refresh", "must be at least 1s, got %q", string(*r.JWKSRefresh))
	}
	if r.UnknownKIDRefetchInterval != nil && is.UnknownKIDRefetchInterval > 0 && is.UnknownKIDRefetchInterval < time.Second {
		v.errorf(p+".unknown_kid_refetch_interval", "must be at least 1s, got %q", string(*r.UnknownKIDRefetchInterval))
	}
	if r.Name == nil {
		v.errorf(p+".name", "required: the name routes use to pick this issuer")
	} else if is.Name = *r.Name; checkName(is.Name) != nil {
		v.errorf(p+".name", "%v", checkName(is.Name))
	}
	if r.Issuer == nil || *r.Issuer == "" {
		v.errorf(p+".issuer", "required: the exact iss value of the issuer's tokens, such as https://accounts.google.com")
	} else {
		is.Issuer = *r.Issuer
		if strings.TrimSpace(is.Issuer) != is.Issuer || strings.ContainsAny(is.Issuer, "\x00\r\n\t ") {
			v.errorf(p+".issuer", "must not contain spaces or control characters")
		}
	}

	// Key source: exactly one of discovery (default), jwks_url, jwks_file, hmac_secret_file.
	var given []string
	for _, f := range []struct {
		name string
		val  *string
	}{{"discovery_url", r.DiscoveryURL}, {"jwks_url", r.JWKSURL}, {"jwks_file", r.JWKSFile}, {"hmac_secret_file", r.HMACSecretFile}} {
		if f.val != nil {
			given = append(given, f.name)
		}
	}
	if len(given) > 1 {
		v.errorf(p+"."+given[1], "give at most one of discovery_url, jwks_url, jwks_file and hmac_secret_file (%s is also given)", given[0])
	}
	switch {
	case r.HMACSecretFile != nil:
		resolved, data, ok := v.readFile(p+".hmac_secret_file", *r.HMACSecretFile, 64<<10)
		is.HMACSecretFile = resolved
		if ok && len(strings.TrimRight(string(data), "\r\n")) < MinHMACSecretBytes {
			// Never quote the secret, not even its length's neighbourhood.
			v.errorf(p+".hmac_secret_file", "the secret in %q is shorter than %d bytes", resolved, MinHMACSecretBytes)
		}
	case r.JWKSFile != nil:
		resolved, data, ok := v.readFile(p+".jwks_file", *r.JWKSFile, maxJWKSFileBytes)
		is.JWKSFile = resolved
		if ok {
			if err := checkJWKSShape(data); err != nil {
				v.errorf(p+".jwks_file", "%q: %v", resolved, err)
			}
		}
	case r.JWKSURL != nil:
		is.JWKSURL = *r.JWKSURL
		if err := checkFetchURL(is.JWKSURL); err != nil {
			v.errorf(p+".jwks_url", "%v", err)
		}
	case r.DiscoveryURL != nil:
		is.DiscoveryURL = *r.DiscoveryURL
		if err := checkFetchURL(is.DiscoveryURL); err != nil {
			v.errorf(p+".discovery_url", "%v", err)
		}
	case is.Issuer != "":
		is.DiscoveryURL = strings.TrimSuffix(is.Issuer, "/") + "/.well-known/openid-configuration"
		if err := checkFetchURL(is.DiscoveryURL); err != nil {
			v.errorf(p+".issuer", "keys are found by OIDC discovery from the issuer, but %v; give jwks_url or jwks_file instead", err)
		}
	}

	if len(r.Audiences) == 0 {
		v.errorf(p+".audiences", "required: at least one accepted aud value (tokens for other audiences must not pass)")
	}
	for j, a := range r.Audiences {
		if strings.TrimSpace(a) == "" {
			v.errorf(idx(p+".audiences", j), "must not be empty")
		}
	}
	is.Audiences = slices.Clone(r.Audiences)

	hmac := r.HMACSecretFile != nil
	for j, a := range r.Algorithms {
		ap := idx(p+".algorithms", j)
		switch {
		case strings.EqualFold(a, "none"):
			v.errorf(ap, `"none" is never accepted: unsigned tokens prove nothing`)
		case slices.Contains(hmacAlgs, a) && !hmac:
			v.errorf(ap, "%s needs hmac_secret_file; HMAC is never accepted alongside public keys (an attacker could sign with the public key)", a)
		case slices.Contains(asymmetricAlgs, a) && hmac:
			v.errorf(ap, "%s is a public-key algorithm, but this issuer has hmac_secret_file; an HMAC issuer accepts only HS256, HS384 and HS512", a)
		case !slices.Contains(hmacAlgs, a) && !slices.Contains(asymmetricAlgs, a):
			v.errorf(ap, "unknown algorithm %q (allowed: %s)", a, strings.Join(append(slices.Clone(asymmetricAlgs), hmacAlgs...), ", "))
		case slices.Contains(r.Algorithms[:j], a):
			v.errorf(ap, "%s is listed twice", a)
		}
	}
	is.Algorithms = slices.Clone(r.Algorithms)
	if hmac && len(is.Algorithms) == 0 {
		is.Algorithms = []string{"HS256"}
	}

	for j, rc := range r.RequiredClaims {
		cp := idx(p+".required_claims", j)
		if rc.Name == nil || *rc.Name == "" {
			v.errorf(cp+".name", "required: the claim name or dotted path")
			continue
		}
		if err := checkClaimPath(*rc.Name); err != nil {
			v.errorf(cp+".name", "%v", err)
		}
		is.RequiredClaims = append(is.RequiredClaims, RequiredClaim{Name: *rc.Name, Values: slices.Clone(rc.Values)})
	}

	m, known := presetMappings[is.Preset]
	if !known {
		v.errorf(p+".preset", "unknown preset %q (allowed: entra, generic, google, keycloak, okta)", is.Preset)
		m = presetMappings[PresetGeneric]
	}
	m.Groups, m.Roles, m.Scopes = slices.Clone(m.Groups), slices.Clone(m.Roles), slices.Clone(m.Scopes)
	if is.Preset == PresetKeycloak {
		// Client roles of the API the token is for.
		for _, a := range is.Audiences {
			if a != "" && !strings.Contains(a, ".") {
				m.Roles = append(m.Roles, "resource_access."+a+".roles")
			}
		}
	}
	if c := r.Claims; c != nil {
		cp := p + ".claims"
		one := func(name string, val *string, dst *string) {
			if val == nil {
				return
			}
			if err := checkClaimPath(*val); err != nil {
				v.errorf(cp+"."+name, "%v", err)
			}
			*dst = *val
		}
		many := func(name string, vals []string, dst *[]string) {
			if vals == nil {
				return
			}
			for j, s := range vals {
				if err := checkClaimPath(s); err != nil {
					v.errorf(idx(cp+"."+name, j), "%v", err)
				}
			}
			*dst = slices.Clone(vals)
		}
		one("subject", c.Subject, &m.Subject)
		one("email", c.Email, &m.Email)
		one("name", c.Name, &m.Name)
		many("groups", c.Groups, &m.Groups)
		many("roles", c.Roles, &m.Roles)
		many("scopes", c.Scopes, &m.Scopes)
	}
	is.Claims = m

	if len(r.AllowedDomains) > 0 && is.Preset != PresetGoogle {
		v.errorf(p+".allowed_domains", "only with preset google (it checks the hd claim of Google Workspace accounts)")
	}
	for j, d := range r.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ *") {
			v.errorf(idx(p+".allowed_domains", j), "must be a domain name such as example.com, got %q", d)
		}
		is.AllowedDomains = append(is.AllowedDomains, strings.ToLower(d))
	}

	switch is.OnUnreachable {
	case OnUnreachableFailStart, OnUnreachableFailClosed:
	default:
		v.errorf(p+".on_unreachable", "must be fail_start or fail_closed, got %q", is.OnUnreachable)
	}
	if (hmac || r.JWKSFile != nil) && r.OnUnreachable != nil {
		v.errorf(p+".on_unreachable", "only for issuers whose keys are fetched (discovery or jwks_url)")
	}
	if (hmac || r.JWKSFile != nil) && (r.JWKSRefresh != nil || r.UnknownKIDRefetchInterval != nil) {
		field := "jwks_refresh"
		if r.JWKSRefresh == nil {
			field = "unknown_kid_refetch_interval"
		}
		v.errorf(p+"."+field, "only for issuers whose keys are fetched (discovery or jwks_url)")
	}
	return is
}

// checkFetchURL accepts https URLs, and http ones on loopback addresses:
// keys fetched over plain HTTP could be replaced on the way.
func checkFetchURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without user info or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q uses http on a non-loopback host; keys must be fetched over https", s)
	}
	return fmt.Errorf("%q must be an https URL", s)
}

// checkClaimPath accepts a claim name or a dotted path of non-empty names.
func checkClaimPath(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return fmt.Errorf("invalid claim path %q: empty segment", s)
		}
	}
	if strings.ContainsAny(s, "\x00\r\n") {
		return fmt.Errorf("invalid claim path %q", s)
	}
	return nil
}

// checkJWKSShape checks that data is a JSON object with a non-empty keys
// list; the gateway parses the keys themselves.
func checkJWKSShape(data []byte) error {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("not a JWKS: %v", err)
	}
	if len(set.Keys) == 0 {
		return fmt.Errorf("the JWKS has no keys")
	}
	return nil
}

func (v *validator) routeAuth(rp string, r *RawRoute) RouteAuth {
	a := r.Auth
	if a == nil {
		return RouteAuth{}
	}
	p := rp + ".auth"
	out := RouteAuth{ForwardToken: boolOr(a.ForwardToken, DefaultRouteForwardToken)}
	if a.Mode == nil {
		v.errorf(p+".mode", "required: public, bearer, session or bearer_or_session")
	} else {
		out.Mode = AuthMode(*a.Mode)
		switch out.Mode {
		case AuthPublic, AuthBearer, AuthSession, AuthBearerOrSession:
		default:
			v.errorf(p+".mode", "must be public, bearer, session or bearer_or_session, got %q", *a.Mode)
		}
	}
	var known []string
	for _, is := range v.raw.Identity.Issuers {
		if is.Name != nil {
			known = append(known, *is.Name)
		}
	}
	bearer := out.Mode == AuthBearer || out.Mode == AuthBearerOrSession
	if bearer && len(known) == 0 {
		v.errorf(p+".mode", "%s needs at least one identity.issuers entry to verify tokens with", out.Mode)
	}
	if len(a.Issuers) > 0 && !bearer {
		v.errorf(p+".issuers", "only with mode bearer or bearer_or_session")
	}
	if a.ForwardToken != nil && *a.ForwardToken && !bearer {
		v.errorf(p+".forward_token", "only with mode bearer or bearer_or_session")
	}
	for j, name := range a.Issuers {
		switch {
		case !slices.Contains(known, name):
			hint := ""
			if len(known) > 0 {
				sorted := slices.Clone(known)
				slices.Sort(sorted)
				hint = " (known: " + strings.Join(sorted, ", ") + ")"
			}
			v.errorf(idx(p+".issuers", j), "no identity.issuers entry is named %q%s", name, hint)
		case slices.Contains(a.Issuers[:j], name):
			v.errorf(idx(p+".issuers", j), "%q is listed twice", name)
		}
	}
	out.Issuers = slices.Clone(a.Issuers)
	return out
}
