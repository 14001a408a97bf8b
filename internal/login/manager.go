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
	return &Manager{c: c, now: now, flights: make(map[string]*flight)}
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
// return URL. On error nothing is stored and the state cookie is cleared.
func (m *Manager) Callback(w http.ResponseWriter, r *http.Request, o Origin) (*session.Session, error) {
	h := w.Header()
	h.Add("Set-Cookie", m.clearCookie(m.c.CookieName+"-login"))
	q := r.URL.Query()
	if len(r.URL.RawQuery) > 8192 {
		return nil, fail(ReasonMalformed, "callback query too long")
	}
	ck, err := r.Cookie(m.c.CookieName + "-login")
	if err != nil {
		return nil, fail(ReasonBadState, "no login state cookie (start at %s)", LoginPath)
	}
	raw, err := m.c.Sealer.Open(purposeState, ck.Value, m.now())
	if err != nil {
		if errors.Is(err, session.ErrExpired) {
			return nil, wrapFail(ReasonStateExpired, err)
		}
		return nil, wrapFail(ReasonBadState, err)
	}
	var st loginState
	if err := json.Unmarshal(raw, &st); err != nil || st.State == "" {
		return nil, fail(ReasonBadState, "unreadable login state")
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 || len(q["state"]) != 1 {
		return nil, fail(ReasonBadState, "state does not match the login state cookie")
	}
	if e := q.Get("error"); e != "" {
		return nil, fail(ReasonProviderError, "the provider answered %s", truncate(sanitize(e), 64))
	}
	code := q.Get("code")
	if code == "" || len(q["code"]) != 1 || len(code) > 4096 {
		return nil, fail(ReasonMalformed, "missing or malformed code")
	}
	tok, err := m.token(r.Context(), url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {o.url(CallbackPath)},
		"code_verifier": {st.Verifier},
	})
	if err != nil {
		return nil, wrapFail(ReasonExchangeFailed, err)
	}
	if tok.IDToken == "" {
		return nil, fail(ReasonExchangeFailed, "the token response has no id_token")
	}
	claims, err := m.c.Provider.VerifyIDToken(r.Context(), tok.IDToken, m.c.ClientID, st.Nonce)
	if err != nil {
		return nil, err
	}
	if err := m.userinfo(r.Context(), tok.AccessToken, claims); err != nil {
		return nil, err
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
		return nil, fmt.Errorf("store session: %w", err)
	}
	sealed, err := m.c.Sealer.Seal(purposeSession, []byte(s.ID), s.Absolute)
	if err != nil {
		return nil, err
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
	return s, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
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
		return nil, fmt.Errorf("token endpoint: status %d, unreadable body", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || t.Error != "" {
		return nil, fmt.Errorf("token endpoint: status %d, error %q", resp.StatusCode, truncate(sanitize(t.Error), 64))
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
		c, err := m.c.Provider.VerifyIDToken(rctx, tok.IDToken, m.c.ClientID, "")
		if err != nil {
			return nil, &Error{Reason: ReasonRefreshFailed, Err: err}
		}
		if c.String("sub") != claims.String("sub") {
			return nil, fail(ReasonSubjectMismatch, "the refreshed ID token names another subject")
		}
		for k, v := range claims {
			if _, ok := c[k]; !ok {
				c[k] = v
			}
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

// Identity turns a session into the request's identity.
func (m *Manager) Identity(s *session.Session) *identity.Identity {
	c := Claims(s.Claims)
	id := &identity.Identity{
		Method:      identity.MethodSession,
		Issuer:      c.String("iss"),
		IssuerName:  s.Issuer,
		Subject:     c.String("sub"),
		Name:        c.String("name"),
		Groups:      c.Strings("groups"),
		Roles:       c.Strings("roles"),
		ClientID:    m.c.ClientID,
		Expiry:      s.Expiry(m.c.IdleTimeout),
		Claims:      s.Claims,
		Fingerprint: identity.Fingerprint(s.ID),
	}
	// An address the provider says is unverified is not an identity.
	if v, ok := c["email_verified"].(bool); !ok || v {
		id.Email = c.String("email")
	}
	if ra, ok := c["realm_access"].(map[string]any); ok && len(id.Roles) == 0 {
		id.Roles = Claims(ra).Strings("roles")
	}
	return id
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
