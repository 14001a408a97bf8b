package login

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/edgegate/edgegate/internal/authn"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/session"
)

// Paths of the browser endpoints, on every host of the gateway.
const (
	LoginPath    = "/.edgegate/login"
	CallbackPath = "/.edgegate/callback"
	LogoutPath   = "/.edgegate/logout"
	WhoamiPath   = "/.edgegate/whoami"
)

// stateLifetime is how long a user has to finish logging in at the provider.
const stateLifetime = 10 * time.Minute

// Cookie purposes (bound into the sealing).
const (
	purposeSession = "session"
	purposeState   = "login-state"
)

// Config configures a Manager.
type Config struct {
	Provider *Provider
	// Issuer, when set, is the identity.issuers entry login.issuer names:
	// ID tokens are verified with its keys (the bearer key cache) and its
	// rules, and its claim mapping makes the session's identity. Nil (a
	// provider given by URL): the provider's own keys verify ID tokens and
	// the generic rules apply (URLIssuerRules).
	Issuer *authn.Verifier
	// IssuerName is the configured name of the issuer, for identities.
	IssuerName   string
	ClientID     string
	ClientSecret string // "" for a public client (PKCE only)
	Scopes       []string
	// CookieName is the session cookie; the login state cookie is
	// CookieName + "-login".
	CookieName         string
	PostLogoutRedirect string
	IdleTimeout        time.Duration
	AbsoluteTimeout    time.Duration
	RefreshBefore      time.Duration
	AllowedReturnHosts []string
	Store              session.Store
	Sealer             *session.Sealer
	HTTPClient         *http.Client
	Logger             *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// OnRefresh, when set, is told the outcome of every refresh attempt.
	OnRefresh func(err error)
}

// Manager runs the login flow and resolves sessions. It is safe for
// concurrent use.
type Manager struct {
	c   Config
	now func() time.Time
	// issuerKeys is set when Config.Issuer holds the keys that verify ID
	// tokens; otherwise the provider's JWKS does and Config.Issuer is the
	// generic claims-only rules.
	issuerKeys bool

	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	s    *session.Session
	err  error
}

// Origin is the scheme and host the browser used, as the hygiene stage
// resolved them; redirect URIs and return URLs are built on it.
type Origin struct {
	Scheme string
	Host   string
}

func (o Origin) url(path string) string { return o.Scheme + "://" + o.Host + path }

// NewManager returns a Manager for c.
func NewManager(c Config) *Manager {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	if c.Provider != nil && c.Now != nil {
		c.Provider.now = c.Now
	}
	issuerKeys := c.Issuer != nil
	if c.Issuer == nil {
		iss := ""
		if c.Provider != nil {
			iss = c.Provider.Meta.Issuer
		}
		c.Issuer = authn.NewClaimsVerifier(URLIssuerRules(c.IssuerName, iss))
	}
	return &Manager{c: c, now: now, issuerKeys: issuerKeys, flights: make(map[string]*flight)}
}

// URLIssuerRules are the identity rules of a provider given to login.issuer
// by URL: the generic preset's claims (with Keycloak's realm roles, which
// need no configuration to be useful), the default clock skew, and no
// lifetime cap (nothing configures one). Naming an identity.issuers entry
// instead brings that issuer's preset, claim mapping, required claims,
// allowed domains, algorithms, skew and lifetime cap.
func URLIssuerRules(name, issuer string) config.Issuer {
	return config.Issuer{
		Name:      name,
		Issuer:    issuer,
		ClockSkew: Skew,
		Preset:    config.PresetGeneric,
		Claims: config.ClaimMapping{
			Subject: "sub", Email: "email", Name: "name",
			Groups: []string{"groups"},
			Roles:  []string{"roles", "realm_access.roles"},
			Scopes: []string{"scope", "scp"},
		},
	}
}

// Config returns the manager's configuration.
func (m *Manager) Config() *Config { return &m.c }

// loginState is what the state cookie carries between login and callback.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"`
}

func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// StartLogin answers with a redirect to the provider. rd is the requested
// return URL; an unsafe one becomes "/" (reported as ReasonBadReturnURL in
// the returned error, which the caller records but need not render).
func (m *Manager) StartLogin(w http.ResponseWriter, r *http.Request, o Origin, rd string) error {
	ret, ok := SafeReturn(rd, o.Host, m.c.AllowedReturnHosts)
	var warn error
	if rd != "" && !ok {
		warn = fail(ReasonBadReturnURL, "return URL refused")
	}
	if rd == "" {
		ret = "/"
	}
	st := loginState{State: random(), Nonce: random(), Verifier: random(), Return: ret}
	payload, _ := json.Marshal(st)
	sealed, err := m.c.Sealer.Seal(purposeState, payload, m.now().Add(stateLifetime))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(st.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {m.c.ClientID},
		"redirect_uri":          {o.url(CallbackPath)},
		"scope":                 {strings.Join(m.c.Scopes, " ")},
		"state":                 {st.State},
		"nonce":                 {st.Nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	target := m.c.Provider.Meta.AuthorizationEndpoint
	if strings.Contains(target, "?") {
		target += "&" + q.Encode()
	} else {
		target += "?" + q.Encode()
	}
	h := w.Header()
	// Session fixation: a login always starts without a session.
	h.Add("Set-Cookie", m.clearCookie(m.c.CookieName))
	h.Add("Set-Cookie", m.cookie(m.c.CookieName+"-login", sealed, int(stateLifetime/time.Second)))
	h.Set("Cache-Control", "no-store")
	h.Set("Location", target)
	w.WriteHeader(http.StatusFound)
	return warn
}

func (m *Manager) cookie(name, value string, maxAge int) string {
	c := &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	return c.String()
}

func (m *Manager) clearCookie(name string) string {
	c := &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	return c.String()
}

// Callback completes a login: it checks state against the state cookie,
// exchanges the code (with the PKCE verifier), verifies the ID token and
// userinfo, stores a new session, sets its cookie and redirects to the
// return URL. It returns the session and its identity. On error nothing is
// stored, nothing but the state cookie's removal is written, and the
// caller renders the error.
func (m *Manager) Callback(w http.ResponseWriter, r *http.Request, o Origin) (*session.Session, *identity.Identity, error) {
	h := w.Header()
	h.Add("Set-Cookie", m.clearCookie(m.c.CookieName+"-login"))
	q := r.URL.Query()
	if len(r.URL.RawQuery) > 8192 {
		return nil, nil, fail(ReasonMalformed, "callback query too long")
	}
	ck, err := r.Cookie(m.c.CookieName + "-login")
	if err != nil {
		return nil, nil, fail(ReasonBadState, "no login state cookie (start at %s)", LoginPath)
	}
	raw, err := m.c.Sealer.Open(purposeState, ck.Value, m.now())
	if err != nil {
		if errors.Is(err, session.ErrExpired) {
			return nil, nil, wrapFail(ReasonStateExpired, err)
		}
		return nil, nil, wrapFail(ReasonBadState, err)
	}
	var st loginState
	if err := json.Unmarshal(raw, &st); err != nil || st.State == "" {
		return nil, nil, fail(ReasonBadState, "unreadable login state")
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 || len(q["state"]) != 1 {
		return nil, nil, fail(ReasonBadState, "state does not match the login state cookie")
	}
	if e := q.Get("error"); e != "" {
		return nil, nil, providerRefusal(e)
	}
	code := q.Get("code")
	if code == "" || len(q["code"]) != 1 || len(code) > 4096 {
		return nil, nil, fail(ReasonMalformed, "missing or malformed code")
	}
	if !visibleASCII(code) {
		// RFC 6749 §A.11: a code is VSCHAR; this one is not worth sending.
		e := fail(ReasonBadCode, "the code has characters an authorization code cannot have")
		e.Detail = "the authorization code is not one the provider issues"
		return nil, nil, e
	}
	tok, err := m.token(r.Context(), url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {o.url(CallbackPath)},
		"code_verifier": {st.Verifier},
	})
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) && te.status >= 400 && te.status < 500 && (te.code == "invalid_grant" || te.code == "invalid_request") {
			// The code is unknown, used, expired or not this client's:
			// the browser brought a bad one, the provider is fine.
			return nil, nil, &Error{Reason: ReasonBadCode, Detail: "the provider refused the authorization code (" + te.code + ")", Err: err}
		}
		return nil, nil, wrapFail(ReasonExchangeFailed, err)
	}
	if tok.IDToken == "" {
		return nil, nil, fail(ReasonExchangeFailed, "the token response has no id_token")
	}
	claims, err := m.verifyIDToken(r.Context(), tok.IDToken, st.Nonce)
	if err != nil {
		return nil, nil, err
	}
	if err := m.userinfo(r.Context(), tok.AccessToken, claims); err != nil {
		return nil, nil, err
	}
	// The issuer's rules, on the ID token merged with userinfo (a required
	// claim or Google's hd may come from either), before anything is stored.
	id, err := m.identityOf(claims, m.c.Provider.now())
	if err != nil {
		return nil, nil, err
	}
	now := m.now()
	s := &session.Session{
		ID:           session.NewID(),
		Issuer:       m.c.IssuerName,
		Claims:       claims,
		IDToken:      tok.IDToken,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenExpiry:  tok.expiry(now, claims),
		Created:      now,
		Absolute:     now.Add(m.c.AbsoluteTimeout),
		LastSeen:     now,
	}
	if err := m.c.Store.Put(r.Context(), s, s.Expiry(m.c.IdleTimeout)); err != nil {
		return nil, nil, fmt.Errorf("store session: %w", err)
	}
	sealed, err := m.c.Sealer.Seal(purposeSession, []byte(s.ID), s.Absolute)
	if err != nil {
		return nil, nil, err
	}
	// A session cookie (no Max-Age): the server decides expiry.
	h.Add("Set-Cookie", m.cookie(m.c.CookieName, sealed, 0))
	h.Set("Cache-Control", "no-store")
	target := st.Return
	if target == "" {
		target = "/"
	}
	h.Set("Location", target)
	w.WriteHeader(http.StatusFound)
	if s.Issuer != "" {
		id.IssuerName = s.Issuer
	}
	id.ClientID = m.c.ClientID
	id.Expiry = s.Expiry(m.c.IdleTimeout)
	id.Fingerprint = identity.Fingerprint(s.ID)
	return s, id, nil
}

// providerRefusal is the error for a callback carrying error=code (RFC
// 6749 §4.1.2.1). The provider's own trouble is a 502; anything else
// (access_denied, login_required, consent_required, a code nobody
// defined) is the provider refusing this user, shown with its sanitized
// code.
func providerRefusal(raw string) *Error {
	code := errorCode(raw)
	switch code {
	case "server_error", "temporarily_unavailable":
		return &Error{Reason: ReasonProviderError, Detail: "the provider answered " + code, Err: fmt.Errorf("the provider answered %s", code)}
	}
	return &Error{Reason: ReasonProviderDenied, Detail: "the provider answered " + code, Err: fmt.Errorf("the provider answered %s", code)}
}

// errorCode keeps at most 64 of the characters RFC 6749 allows in an error
// code (%x20-21 / %x23-5B / %x5D-7E); others become "?".
func errorCode(s string) string {
	s = truncate(s, 64)
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

// visibleASCII reports whether s is only VSCHAR (%x20-7E).
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	IDToken      string      `json:"id_token"`
	RefreshToken string      `json:"refresh_token"`
	ExpiresIn    json.Number `json:"expires_in"`
	Error        string      `json:"error"`
}

func (t *tokenResponse) expiry(now time.Time, c Claims) time.Time {
	if n, err := t.ExpiresIn.Int64(); err == nil && n > 0 {
		return now.Add(time.Duration(n) * time.Second)
	}
	if exp, ok := c.Time("exp"); ok {
		return exp
	}
	return now.Add(5 * time.Minute)
}

// tokenError is the token endpoint's refusal: its status and sanitized
// error code ("" when the body was not a JSON error).
type tokenError struct {
	status int
	code   string
}

func (e *tokenError) Error() string {
	if e.code == "" {
		return fmt.Sprintf("token endpoint: status %d, unreadable body", e.status)
	}
	return fmt.Sprintf("token endpoint: status %d, error %q", e.status, e.code)
}

func (m *Manager) token(ctx context.Context, form url.Values) (*tokenResponse, error) {
	if m.c.ClientSecret == "" {
		form.Set("client_id", m.c.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.c.Provider.Meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if m.c.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(m.c.ClientID), url.QueryEscape(m.c.ClientSecret))
	}
	resp, err := m.c.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, &tokenError{status: resp.StatusCode}
		}
		return nil, fmt.Errorf("token endpoint: status %d, unreadable body", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || t.Error != "" {
		return nil, &tokenError{status: resp.StatusCode, code: errorCode(t.Error)}
	}
	if t.AccessToken == "" {
		return nil, errors.New("token endpoint: no access_token")
	}
	return &t, nil
}

// userinfo merges the userinfo claims into c (the ID token's claims win)
// after checking that they are about the same subject.
func (m *Manager) userinfo(ctx context.Context, accessToken string, c Claims) error {
	if m.c.Provider.Meta.UserinfoEndpoint == "" || accessToken == "" {
		return nil
	}
	var ui Claims
	if err := getJSON(ctx, m.c.HTTPClient, m.c.Provider.Meta.UserinfoEndpoint, accessToken, &ui); err != nil {
		return fail(ReasonProviderError, "userinfo: %v", err)
	}
	if ui.String("sub") != c.String("sub") {
		return fail(ReasonSubjectMismatch, "userinfo names another subject")
	}
	for k, v := range ui {
		if _, ok := c[k]; !ok {
			c[k] = v
		}
	}
	return nil
}

// SessionFrom resolves the session cookie of r: it opens the cookie, loads
// the session, enforces the idle and absolute timeouts, refreshes tokens
// that are due (one refresh at a time per session) and records activity.
// The error is an *Error with a typed reason.
func (m *Manager) SessionFrom(ctx context.Context, r *http.Request) (*session.Session, error) {
	ck, err := r.Cookie(m.c.CookieName)
	if err != nil || ck.Value == "" {
		return nil, fail(ReasonMissing, "no session cookie")
	}
	now := m.now()
	raw, err := m.c.Sealer.Open(purposeSession, ck.Value, now)
	switch {
	case errors.Is(err, session.ErrExpired):
		return nil, wrapFail(ReasonSessionExpired, err)
	case errors.Is(err, session.ErrMalformed):
		return nil, wrapFail(ReasonMalformed, err)
	case err != nil:
		return nil, wrapFail(ReasonBadCookie, err)
	}
	id := string(raw)
	s, err := m.c.Store.Get(ctx, id)
	if err != nil {
		if errors.Is(err, session.ErrNotFound) {
			return nil, wrapFail(ReasonSessionExpired, err)
		}
		return nil, err
	}
	switch {
	case !now.Before(s.Absolute):
		_ = m.c.Store.Delete(ctx, id)
		return nil, fail(ReasonSessionExpired, "absolute timeout reached")
	case !now.Before(s.LastSeen.Add(m.c.IdleTimeout)):
		_ = m.c.Store.Delete(ctx, id)
		return nil, fail(ReasonIdleTimeout, "idle timeout reached")
	}
	if !now.Before(s.TokenExpiry.Add(-m.c.RefreshBefore)) {
		if s, err = m.refresh(ctx, s); err != nil {
			_ = m.c.Store.Delete(ctx, id)
			return nil, err
		}
	}
	s.LastSeen = now
	if err := m.c.Store.Touch(ctx, id, now, s.Expiry(m.c.IdleTimeout)); err != nil {
		return nil, wrapFail(ReasonSessionExpired, err)
	}
	return s, nil
}

// refresh renews the session's tokens; concurrent callers for one session
// share a single request to the provider.
func (m *Manager) refresh(ctx context.Context, s *session.Session) (*session.Session, error) {
	m.mu.Lock()
	if f, ok := m.flights[s.ID]; ok {
		m.mu.Unlock()
		select {
		case <-f.done:
			if f.err != nil {
				return nil, f.err
			}
			// Each caller gets its own copy: callers set LastSeen on it.
			return f.s.Clone(), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	m.flights[s.ID] = f
	m.mu.Unlock()

	f.s, f.err = m.doRefresh(ctx, s)
	if m.c.OnRefresh != nil {
		m.c.OnRefresh(f.err)
	}
	m.mu.Lock()
	delete(m.flights, s.ID)
	m.mu.Unlock()
	close(f.done)
	if f.err != nil {
		return nil, f.err
	}
	return f.s.Clone(), nil
}

func (m *Manager) doRefresh(ctx context.Context, s *session.Session) (*session.Session, error) {
	now := m.now()
	// Another request may have refreshed it just before this one.
	if cur, err := m.c.Store.Get(ctx, s.ID); err == nil && now.Before(cur.TokenExpiry.Add(-m.c.RefreshBefore)) {
		return cur, nil
	}
	if s.RefreshToken == "" {
		return nil, fail(ReasonSessionExpired, "the token expired and the provider gave no refresh token")
	}
	// The refresh outlives the request that triggered it, so a client that
	// goes away does not leave the session half refreshed.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	tok, err := m.token(rctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.RefreshToken}})
	if err != nil {
		return nil, wrapFail(ReasonRefreshFailed, err)
	}
	n := s.Clone()
	claims := Claims(s.Claims)
	if tok.IDToken != "" {
		c, err := m.verifyIDToken(rctx, tok.IDToken, "")
		if err != nil {
			return nil, &Error{Reason: ReasonRefreshFailed, Detail: detailOf(err), Err: err}
		}
		if c.String("sub") != claims.String("sub") {
			return nil, fail(ReasonSubjectMismatch, "the refreshed ID token names another subject")
		}
		for k, v := range claims {
			if _, ok := c[k]; !ok {
				c[k] = v
			}
		}
		// The issuer's rules again, on the fresh claims: a user who has
		// left the required group loses the session at the next refresh.
		if _, err := m.identityOf(c, m.c.Provider.now()); err != nil {
			return nil, err
		}
		claims = c
		n.IDToken = tok.IDToken
	}
	n.Claims = claims
	n.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		n.RefreshToken = tok.RefreshToken
	}
	n.TokenExpiry = tok.expiry(now, claims)
	n.Refreshed++
	if err := m.c.Store.Put(rctx, n, n.Expiry(m.c.IdleTimeout)); err != nil {
		return nil, fmt.Errorf("store session: %w", err)
	}
	m.c.Logger.Debug("session refreshed", "session", identity.Fingerprint(n.ID), "refreshes", n.Refreshed)
	return n, nil
}

// verifyIDToken checks raw's signature, with the identity issuer's keys
// or, for a provider given by URL, the provider's, and the relying party's
// own checks (OpenID Connect Core §3.1.3.7: iss, sub, aud and azp naming
// this client, and the nonce when one was sent). The issuer's rules follow
// in identityOf.
func (m *Manager) verifyIDToken(ctx context.Context, raw, nonce string) (Claims, error) {
	var c Claims
	if m.issuerKeys {
		mc, err := m.c.Issuer.VerifyIDTokenSignature(ctx, raw)
		if err != nil {
			return nil, fromAuthn(err)
		}
		c = Claims(mc)
	} else {
		var err error
		if c, err = m.c.Provider.verifiedClaims(ctx, raw); err != nil {
			return nil, err
		}
	}
	if err := rpChecks(c, m.c.Provider.Meta.Issuer, m.c.ClientID, nonce); err != nil {
		return nil, err
	}
	return c, nil
}

// identityOf applies the issuer's rules to session claims: with now not
// zero also the token checks (exp, nbf, iat with the issuer's skew, the
// lifetime cap), for claims just taken from an ID token.
func (m *Manager) identityOf(c Claims, now time.Time) (*identity.Identity, error) {
	id, err := m.c.Issuer.IdentityFromClaims(c, authn.ClaimsCheck{Audience: m.c.ClientID, Now: now, Method: identity.MethodSession})
	if err != nil {
		e := fromAuthn(err)
		e.Subject = truncate(c.String("sub"), 255)
		return nil, e
	}
	return id, nil
}

func detailOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return ""
}

// Identity turns a session into the request's identity with the issuer's
// claim rules (mapping, required claims, allowed domains, group overage),
// which may have changed since the login: a refusal is an *Error with the
// rule's reason.
func (m *Manager) Identity(s *session.Session) (*identity.Identity, error) {
	id, err := m.identityOf(s.Claims, time.Time{})
	if err != nil {
		return nil, err
	}
	if s.Issuer != "" {
		id.IssuerName = s.Issuer
	}
	id.ClientID = m.c.ClientID
	id.Expiry = s.Expiry(m.c.IdleTimeout)
	id.Fingerprint = identity.Fingerprint(s.ID)
	return id, nil
}

// Resolve is SessionFrom followed by Identity: the session of r and who it
// is. A session the issuer's rules no longer admit is ended.
func (m *Manager) Resolve(ctx context.Context, r *http.Request) (*session.Session, *identity.Identity, error) {
	s, err := m.SessionFrom(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	id, err := m.Identity(s)
	if err != nil {
		_ = m.c.Store.Delete(ctx, s.ID)
		return nil, nil, err
	}
	return s, id, nil
}

// Logout ends the session on r (if any) and clears its cookie. With
// local false and a provider that has an end_session_endpoint, it sends the
// browser there (RP-initiated logout with id_token_hint); otherwise to the
// safe rd, or to a signed-out page when rd is empty. It reports whether it
// has written the response.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request, o Origin, local bool) (*session.Session, bool) {
	h := w.Header()
	h.Add("Set-Cookie", m.clearCookie(m.c.CookieName))
	h.Set("Cache-Control", "no-store")
	var s *session.Session
	if ck, err := r.Cookie(m.c.CookieName); err == nil {
		if raw, err := m.c.Sealer.Open(purposeSession, ck.Value, m.now()); err == nil {
			s, _ = m.c.Store.Get(r.Context(), string(raw))
			_ = m.c.Store.Delete(r.Context(), string(raw))
		}
	}
	rd, rdOK := SafeReturn(r.URL.Query().Get("rd"), o.Host, m.c.AllowedReturnHosts)
	if end := m.c.Provider.Meta.EndSessionEndpoint; !local && end != "" && s != nil {
		q := url.Values{"client_id": {m.c.ClientID}, "id_token_hint": {s.IDToken}}
		if p := m.c.PostLogoutRedirect; p != "" {
			if strings.HasPrefix(p, "/") {
				p = o.url(p)
			}
			q.Set("post_logout_redirect_uri", p)
			q.Set("state", random())
		}
		sep := "?"
		if strings.Contains(end, "?") {
			sep = "&"
		}
		h.Set("Location", end+sep+q.Encode())
		w.WriteHeader(http.StatusFound)
		return s, true
	}
	if rdOK {
		h.Set("Location", rd)
		w.WriteHeader(http.StatusFound)
		return s, true
	}
	return s, false
}
