package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// LoginCallbackPath is where the provider sends the browser back. (The
// defaults of the login and dev_provider sections are in defaults.go.)
const LoginCallbackPath = "/.edgegate/callback"

// Login is the validated browser login configuration.
type Login struct {
	// IssuerName is the identity.issuers entry named by login.issuer, ""
	// when login.issuer is a URL.
	IssuerName string
	// IssuerURL is the provider's issuer URL (discovery is fetched from
	// IssuerURL + "/.well-known/openid-configuration").
	IssuerURL string
	ClientID  string
	// ClientSecretFile (resolved path) or ClientSecretEnv name where the
	// secret is read by the gateway; the secret itself is never held in
	// the configuration. Both empty: a public client.
	ClientSecretFile string
	ClientSecretEnv  string
	// Scopes always include "openid".
	Scopes             []string
	PostLogoutRedirect string
	CookieName         string
	Session            SessionConfig
	// AllowedReturnHosts are lower-cased host or host:port names.
	AllowedReturnHosts []string
}

// SessionConfig is the validated login.session.
type SessionConfig struct {
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	RefreshBefore   time.Duration
	Store           string
	MaxSessions     int
}

// DevProvider is the validated embedded provider configuration.
type DevProvider struct {
	Address       string
	Issuer        string
	Force         bool
	Users         []DevUser
	Clients       []DevClient
	TokenLifetime time.Duration
}

// DevUser is a user of the dev provider.
type DevUser struct {
	Name     string
	Email    string
	Groups   []string
	Roles    []string
	Password string
}

// DevClient is a client of the dev provider.
type DevClient struct {
	ID           string
	Secret       string
	RedirectURIs []string
}

var (
	devNameRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	scopeRE    = regexp.MustCompile(`^[\x21\x23-\x5b\x5d-\x7e]{1,128}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	clientIDRE = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
)

func (v *validator) login(raw *RawConfig) *Login {
	r := raw.Login
	if r == nil {
		return nil
	}
	const p = "login"
	l := &Login{
		CookieName: str(r.CookieName, DefaultLoginCookieName),
		Session: SessionConfig{
			IdleTimeout:     v.duration(p+".session.idle_timeout", r.Session.IdleTimeout, DefaultSessionIdleTimeout, positive),
			AbsoluteTimeout: v.duration(p+".session.absolute_timeout", r.Session.AbsoluteTimeout, DefaultSessionAbsolute, positive),
			RefreshBefore:   v.duration(p+".session.refresh_before", r.Session.RefreshBefore, DefaultSessionRefreshBefore, nonNegative),
			Store:           str(r.Session.Store, DefaultSessionStore),
			MaxSessions:     v.intIn(p+".session.max_sessions", r.Session.MaxSessions, DefaultSessionMaxSessions, 1, 10_000_000),
		},
	}
	switch {
	case r.Issuer == nil:
		v.errorf(p+".issuer", "required: the name of an identity.issuers entry, or the provider's issuer URL")
	case strings.Contains(*r.Issuer, "://"):
		if err := checkIssuerURL(*r.Issuer); err != nil {
			v.errorf(p+".issuer", "%v", err)
		}
		l.IssuerURL = strings.TrimSuffix(*r.Issuer, "/")
	default:
		l.IssuerName = *r.Issuer
		u, known, ok := lookupIssuer(raw, l.IssuerName)
		switch {
		case !ok:
			v.errorf(p+".issuer", "no identity.issuers entry is named %q%s", l.IssuerName, listHint(known))
		case u == "":
			// The identity section reports the missing issuer URL.
		default:
			l.IssuerURL = strings.TrimSuffix(u, "/")
		}
	}
	if r.ClientID == nil {
		v.errorf(p+".client_id", "required: the OAuth client ID registered at the provider")
	} else if l.ClientID = *r.ClientID; !clientIDRE.MatchString(l.ClientID) {
		v.errorf(p+".client_id", "must be 1 to 255 printable ASCII characters without spaces")
	}
	switch {
	case r.ClientSecretFile != nil && r.ClientSecretEnv != nil:
		v.errorf(p+".client_secret_env", "give client_secret_file or client_secret_env, not both")
	case r.ClientSecretFile != nil:
		resolved, data, ok := v.readFile(p+".client_secret_file", *r.ClientSecretFile, 64<<10)
		l.ClientSecretFile = resolved
		if ok && strings.TrimSpace(string(data)) == "" {
			v.errorf(p+".client_secret_file", "%q is empty", resolved)
		}
	case r.ClientSecretEnv != nil:
		l.ClientSecretEnv = *r.ClientSecretEnv
		if !envNameRE.MatchString(l.ClientSecretEnv) {
			v.errorf(p+".client_secret_env", "%q is not an environment variable name", l.ClientSecretEnv)
		}
	}
	if r.Scopes == nil {
		l.Scopes = DefaultLoginScopes()
	} else {
		l.Scopes = []string{"openid"}
		seen := map[string]bool{"openid": true}
		for i, s := range r.Scopes {
			if !scopeRE.MatchString(s) {
				v.errorf(idx(p+".scopes", i), "invalid scope %q: a scope is printable ASCII without spaces, quotes or backslashes", s)
				continue
			}
			if !seen[s] {
				seen[s] = true
				l.Scopes = append(l.Scopes, s)
			}
		}
	}
	if r.PostLogoutRedirect != nil {
		l.PostLogoutRedirect = *r.PostLogoutRedirect
		if err := checkRedirectTarget(l.PostLogoutRedirect); err != nil {
			v.errorf(p+".post_logout_redirect", "%v", err)
		}
	}
	if !strings.HasPrefix(l.CookieName, "__Host-") || !validToken(l.CookieName) || strings.ContainsAny(l.CookieName, "=;,") {
		v.errorf(p+".cookie_name", "%q must be a cookie name starting with \"__Host-\" (host-only, Secure, Path=/)", l.CookieName)
	}
	s := &l.Session
	if s.IdleTimeout > 0 && s.AbsoluteTimeout > 0 && s.AbsoluteTimeout < s.IdleTimeout {
		v.errorf(p+".session.absolute_timeout", "must be at least idle_timeout (%v)", s.IdleTimeout)
	}
	if s.Store != "memory" {
		v.errorf(p+".session.store", "unsupported store %q; supported: memory", s.Store)
	}
	for i, h := range r.AllowedReturnHosts {
		h = strings.ToLower(h)
		if err := checkHostPort(h); err != nil {
			if err2 := checkHostname(h, false); err2 != nil {
				v.errorf(idx(p+".allowed_return_hosts", i), "%v", err)
				continue
			}
		}
		l.AllowedReturnHosts = append(l.AllowedReturnHosts, h)
	}
	return l
}

// checkIssuerURL accepts https URLs, and http ones on loopback (dev and
// tests): an issuer over plain http elsewhere could be spoofed.
func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errorString("issuer URL %q must be an absolute http(s) URL without user info, query or fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			return errorString("issuer URL %q uses http on a non-loopback host; use https", s)
		}
	default:
		return errorString("issuer URL %q must use https (http only on loopback)", s)
	}
	return nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// lookupIssuer finds the identity.issuers entry called name and returns
// its issuer URL. ok is false when no entry has that name.
func lookupIssuer(raw *RawConfig, name string) (issuerURL string, known []string, ok bool) {
	for _, is := range raw.Identity.Issuers {
		if is.Name == nil {
			continue
		}
		known = append(known, *is.Name)
		if *is.Name == name {
			return str(is.Issuer, ""), known, true
		}
	}
	return "", known, false
}

func listHint(known []string) string {
	if len(known) == 0 {
		return "; identity.issuers is empty"
	}
	return "; defined issuers: " + strings.Join(known, ", ")
}

func errorString(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

func (v *validator) devProvider(raw *RawConfig) *DevProvider {
	r := raw.DevProvider
	if r == nil {
		return nil
	}
	const p = "dev_provider"
	d := &DevProvider{
		Force:         boolOr(r.Force, DefaultDevProviderForce),
		TokenLifetime: v.duration(p+".token_lifetime", r.TokenLifetime, DefaultDevTokenLifetime, positive),
	}
	if r.Address == nil {
		v.errorf(p+".address", "required: a loopback host:port such as 127.0.0.1:9400")
	} else {
		d.Address = *r.Address
		host, _, err := net.SplitHostPort(d.Address)
		switch {
		case err != nil:
			v.errorf(p+".address", "%q is not host:port: %v", d.Address, err)
		case !loopbackHost(host) && !d.Force:
			v.errorf(p+".address", "%q is not a loopback address; the dev provider is for development only (set force: true to override, never in production)", d.Address)
		}
	}
	d.Issuer = "http://" + d.Address
	if r.Issuer != nil {
		d.Issuer = strings.TrimSuffix(*r.Issuer, "/")
		if u, err := url.Parse(d.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			v.errorf(p+".issuer", "%q must be an absolute http(s) URL", d.Issuer)
		}
	}
	if len(r.Users) == 0 {
		v.errorf(p+".users", "at least one dev user is required")
	}
	names := map[string]int{}
	for i, u := range r.Users {
		up := idx(p+".users", i)
		du := DevUser{Name: str(u.Name, ""), Email: str(u.Email, ""), Groups: u.Groups, Roles: u.Roles, Password: str(u.Password, "")}
		switch {
		case u.Name == nil:
			v.errorf(up+".name", "required")
		case !devNameRE.MatchString(du.Name):
			v.errorf(up+".name", "%q: use 1 to 64 letters, digits, \".\", \"_\" or \"-\"", du.Name)
		default:
			if first, dup := names[du.Name]; dup {
				v.errorf(up+".name", "user %q is already users[%d]", du.Name, first)
			}
			names[du.Name] = i
		}
		if du.Email != "" && !strings.Contains(du.Email, "@") {
			v.errorf(up+".email", "%q is not an email address", du.Email)
		}
		d.Users = append(d.Users, du)
	}
	if len(r.Clients) == 0 {
		v.errorf(p+".clients", "at least one client is required")
	}
	ids := map[string]int{}
	for i, c := range r.Clients {
		cp := idx(p+".clients", i)
		dc := DevClient{ID: str(c.ID, ""), Secret: str(c.Secret, "")}
		switch {
		case c.ID == nil:
			v.errorf(cp+".id", "required")
		case !clientIDRE.MatchString(dc.ID):
			v.errorf(cp+".id", "must be 1 to 255 printable ASCII characters without spaces")
		default:
			if first, dup := ids[dc.ID]; dup {
				v.errorf(cp+".id", "client %q is already clients[%d]", dc.ID, first)
			}
			ids[dc.ID] = i
		}
		if c.Secret == nil && len(c.RedirectURIs) == 0 {
			v.errorf(cp+".redirect_uris", "a public client (no secret) needs at least one redirect URI")
		}
		for j, ru := range c.RedirectURIs {
			u, err := url.Parse(ru)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
				v.errorf(idx(cp+".redirect_uris", j), "%q must be an absolute http(s) URL without fragment", ru)
				continue
			}
			dc.RedirectURIs = append(dc.RedirectURIs, ru)
		}
		d.Clients = append(d.Clients, dc)
	}
	return d
}
