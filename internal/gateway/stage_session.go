package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/authn"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/login"
	"github.com/edgegate/edgegate/internal/route"
	"github.com/edgegate/edgegate/internal/session"
)

// sessionState is the gateway-lifetime session store and login machinery
// (sessions survive reloads).
type sessionState struct {
	store session.Store
	// ring seals session and login-state cookies: the gateway key ring's
	// "session" keys, which rotate on the ring's schedule (an old key still
	// opens its cookies until it retires).
	ring session.KeyRing
	// sealer is shared by every snapshot so its cipher cache survives reloads.
	sealer *session.Sealer
}

func (g *Gateway) initSessions(cfg *config.Config) error {
	max := config.DefaultSessionMaxSessions
	if cfg.Login != nil {
		max = cfg.Login.Session.MaxSessions
	}
	var ring session.KeyRing
	if kr := g.KeyRing(); kr != nil {
		ring = kr.Symmetric(SessionKeyPurpose)
	} else {
		ring = session.NewEphemeralKeyRing()
	}
	g.sessions = &sessionState{
		store:  session.NewMemoryStore(max, nil),
		ring:   ring,
		sealer: &session.Sealer{Ring: ring},
	}
	return nil
}

func (g *Gateway) closeSessions() {}

// sessionStage is the compiled login configuration of one snapshot.
type sessionStage struct {
	// key identifies the provider discovery this stage holds, so a reload
	// that keeps the issuer reuses it instead of fetching again.
	key      string
	provider *login.Provider
	mgr      *login.Manager
}

// discoveryTimeout bounds provider discovery at start and on reload.
const discoveryTimeout = 10 * time.Second

// compileSession builds the login stage; as is this snapshot's bearer
// stage, whose verifier of the issuer login.issuer names (if it names one)
// verifies ID tokens and makes session identities.
func compileSession(cfg *config.Config, prev *Snapshot, g *Gateway, as *authnStage) (*sessionStage, error) {
	l := cfg.Login
	if l == nil {
		return &sessionStage{}, nil
	}
	secret, err := loginSecret(l)
	if err != nil {
		return nil, err
	}
	// A named issuer brings its keys and rules (internal/authn holds the
	// one key cache of that issuer); its exact iss is what discovery must
	// name (a trailing "/" included, as Auth0's has).
	var verifier *authn.Verifier
	issuerURL := l.IssuerURL
	if l.IssuerName != "" {
		if as != nil && as.set != nil {
			verifier = as.set.Verifier(l.IssuerName)
		}
		if verifier == nil {
			return nil, fmt.Errorf("login.issuer: no identity issuer named %q", l.IssuerName)
		}
		issuerURL = verifier.Issuer()
	}
	st := &sessionStage{key: issuerURL + "\x00" + l.IssuerName}
	if prev != nil && prev.session != nil && prev.session.key == st.key && prev.session.provider != nil {
		st.provider = prev.session.provider
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
		defer cancel()
		discover := login.Discover
		if verifier != nil {
			discover = login.DiscoverEndpoints
		}
		st.provider, err = discover(ctx, &http.Client{Timeout: discoveryTimeout}, issuerURL)
		if err != nil {
			return nil, fmt.Errorf("login: %w", err)
		}
	}
	m := &g.metrics.Session
	st.mgr = login.NewManager(login.Config{
		Provider:           st.provider,
		Issuer:             verifier,
		IssuerName:         l.IssuerName,
		ClientID:           l.ClientID,
		ClientSecret:       secret,
		Scopes:             l.Scopes,
		CookieName:         l.CookieName,
		PostLogoutRedirect: l.PostLogoutRedirect,
		IdleTimeout:        l.Session.IdleTimeout,
		AbsoluteTimeout:    l.Session.AbsoluteTimeout,
		RefreshBefore:      l.Session.RefreshBefore,
		AllowedReturnHosts: l.AllowedReturnHosts,
		Store:              g.sessions.store,
		Sealer:             g.sessions.sealer,
		Logger:             g.log,
		OnRefresh: func(err error) {
			if err != nil {
				m.Refreshes.WithLabelValues("error").Inc()
				return
			}
			m.Refreshes.WithLabelValues("ok").Inc()
		},
	})
	return st, nil
}

// loginSecret reads the client secret from where the configuration says.
// The secret itself never appears in an error.
func loginSecret(l *config.Login) (string, error) {
	switch {
	case l.ClientSecretFile != "":
		b, err := os.ReadFile(l.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("login.client_secret_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case l.ClientSecretEnv != "":
		s := strings.TrimSpace(os.Getenv(l.ClientSecretEnv))
		if s == "" {
			return "", fmt.Errorf("login.client_secret_env: environment variable %s is not set or empty", l.ClientSecretEnv)
		}
		return s, nil
	}
	return "", nil
}

func origin(st *reqState, r *http.Request) login.Origin {
	o := login.Origin{Scheme: st.hy.Scheme, Host: st.hy.Host}
	if o.Scheme == "" {
		o.Scheme = "http"
		if r.TLS != nil {
			o.Scheme = "https"
		}
	}
	if o.Host == "" {
		o.Host = strings.ToLower(r.Host)
		return o
	}
	// hygiene drops the port; the browser's origin keeps it.
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		o.Host = net.JoinHostPort(o.Host, port)
	} else if strings.Contains(o.Host, ":") {
		o.Host = "[" + o.Host + "]"
	}
	return o
}

// loginFailure records a typed login or session failure and returns the
// error to render.
func (g *Gateway) loginFailure(r *http.Request, st *reqState, err error, status int, fingerprint string) error {
	reason := login.ReasonOf(err)
	if reason == "" {
		reason = "internal"
		status = http.StatusBadGateway
	}
	var le *login.Error
	errors.As(err, &le)
	g.metrics.Session.Failures.WithLabelValues(string(reason)).Inc()
	ev := audit.Event{
		Time: time.Now(), Kind: audit.KindAuthnFailure, RequestID: st.id, Route: st.route,
		Method: r.Method, Host: st.hy.Host, Path: st.hy.Path, Decision: "deny", Reason: string(reason),
		Rule: "session", Fingerprint: fingerprint,
	}
	if le != nil {
		// The subject the provider vouched for and the issuer's rules
		// refused: who was turned away is the point of the record.
		ev.Subject = le.Subject
	}
	if st.hy.ClientIP.IsValid() {
		ev.ClientIP = st.hy.ClientIP.String()
	}
	if rerr := g.record(r.Context(), ev); rerr != nil {
		return httperr.New(http.StatusServiceUnavailable, "audit.unavailable", "the request cannot be recorded", rerr)
	}
	code := "session." + string(reason)
	public := publicReason(reason)
	if le != nil && le.Detail != "" {
		public += " (" + le.Detail + ")"
	}
	switch status {
	case http.StatusUnauthorized:
		return httperr.New(status, code, "sign-in required: "+public, err)
	case http.StatusBadGateway:
		msg := "the identity provider could not complete the sign-in"
		if le != nil && le.Detail != "" {
			msg += " (" + le.Detail + ")"
		}
		return httperr.New(status, "login.provider", msg, err)
	case http.StatusServiceUnavailable:
		he := httperr.New(status, code, "sign-in is unavailable: "+public, err)
		he.Header = http.Header{"Retry-After": {"5"}}
		return he
	}
	return httperr.New(status, code, "sign-in failed: "+public, err)
}

func publicReason(r login.Reason) string { return strings.ReplaceAll(string(r), "_", " ") }

func cookieFingerprint(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return identity.Fingerprint(c.Value)
	}
	return ""
}

// sessionIdentity returns the identity of the browser session on r, or
// nil when there is none. handled is true when it has answered the request
// itself (a redirect to the login flow).
func (g *Gateway) sessionIdentity(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState) (id *identity.Identity, handled bool, err error) {
	ss := snap.session
	if ss == nil || ss.mgr == nil {
		// Fail closed: a session route without login configured lets nobody in.
		return nil, false, httperr.New(http.StatusUnauthorized, "session.login_not_configured", "sign-in is not configured on this gateway", nil)
	}
	_, sid, err := ss.mgr.Resolve(r.Context(), r)
	if err == nil {
		return sid, false, nil
	}
	cookieName := ss.mgr.Config().CookieName
	fp := cookieFingerprint(r, cookieName)
	if login.ReasonOf(err) != login.ReasonMissing {
		// A dead or forged cookie is dropped so the browser stops sending it.
		w.Header().Add("Set-Cookie", (&http.Cookie{Name: cookieName, Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}).String())
	}
	he := g.loginFailure(r, st, err, http.StatusUnauthorized, fp)
	if var503(he) {
		return nil, false, he
	}
	if wantsHTML(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		rd := st.hy.Path
		if r.URL.RawQuery != "" {
			rd += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", login.LoginPath+"?rd="+url.QueryEscape(rd))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusFound)
		return nil, true, nil
	}
	return nil, false, he
}

func var503(err error) bool {
	var he *httperr.Error
	return errors.As(err, &he) && he.Status == http.StatusServiceUnavailable
}

// serveLogin answers the gateway's own browser endpoints under /.edgegate/
// (login, callback, logout, whoami). handled is false for paths it does
// not own.
func (g *Gateway) serveLogin(w http.ResponseWriter, r *http.Request, snap *Snapshot, path string, st *reqState) (handled bool, err error) {
	switch path {
	case login.LoginPath, login.CallbackPath, login.LogoutPath, login.WhoamiPath:
	default:
		return false, nil
	}
	ss := snap.session
	if ss == nil || ss.mgr == nil {
		return true, httperr.New(http.StatusNotFound, "login.not_configured", "sign-in is not configured on this gateway", nil)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !(path == login.LogoutPath && r.Method == http.MethodPost) {
		he := httperr.New(http.StatusMethodNotAllowed, "login.method", "method not allowed", nil)
		he.Header = http.Header{"Allow": {"GET, HEAD"}}
		return true, he
	}
	mgr := ss.mgr
	o := origin(st, r)
	st.route = "(edgegate-login)"
	switch path {
	case login.LoginPath:
		if err := mgr.StartLogin(w, r, o, r.URL.Query().Get("rd")); err != nil {
			if login.ReasonOf(err) == login.ReasonBadReturnURL {
				// The redirect to the provider went out (to "/" afterwards);
				// the refused URL is still worth a record.
				_ = g.loginFailure(r, st, err, http.StatusBadRequest, "")
				return true, nil
			}
			return true, httperr.New(http.StatusInternalServerError, "login.start", "cannot start sign-in", err)
		}
		return true, nil
	case login.CallbackPath:
		_, id, err := mgr.Callback(w, r, o)
		if err != nil {
			reason := login.ReasonOf(err)
			g.metrics.Session.Logins.WithLabelValues(string(orInternal(reason))).Inc()
			return true, g.loginFailure(r, st, err, callbackStatus(reason), "")
		}
		g.loginSucceeded(r, st, id)
		return true, nil
	case login.LogoutPath:
		local := r.URL.Query().Get("local") != ""
		s, wrote := mgr.Logout(w, r, o, local)
		kind := "local"
		if wrote && s != nil && !local && ss.provider.Meta.EndSessionEndpoint != "" {
			kind = "provider"
		}
		g.metrics.Session.Logouts.WithLabelValues(kind).Inc()
		if !wrote {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(login.SignedOutPage))
		}
		return true, nil
	default: // whoami
		s, id, err := mgr.Resolve(r.Context(), r)
		if err != nil {
			return true, g.loginFailure(r, st, err, http.StatusUnauthorized, cookieFingerprint(r, mgr.Config().CookieName))
		}
		mgr.ServeWhoami(w, r, s, id)
		return true, nil
	}
}

// loginSucceeded records a completed login.
func (g *Gateway) loginSucceeded(r *http.Request, st *reqState, id *identity.Identity) {
	g.metrics.Session.Logins.WithLabelValues("ok").Inc()
	ev := audit.Event{Time: time.Now(), Kind: audit.KindAuthnSuccess, RequestID: st.id, Route: st.route, Method: r.Method,
		Host: st.hy.Host, Path: st.hy.Path, Subject: id.Subject, Issuer: id.Issuer, Decision: "allow", Reason: "login", Fingerprint: id.Fingerprint}
	if st.hy.ClientIP.IsValid() {
		ev.ClientIP = st.hy.ClientIP.String()
	}
	_ = g.record(r.Context(), ev)
}

// callbackStatus is the status of a failed callback: 400 for parameters
// that cannot be right (state, code), 403 when the provider or the
// issuer's rules refuse this user, 502 when the provider fails, 503 while
// the issuer's keys are not loaded, 401 for a token that does not verify.
func callbackStatus(reason login.Reason) int {
	switch reason {
	case login.ReasonBadState, login.ReasonStateExpired, login.ReasonMalformed, login.ReasonBadCode:
		return http.StatusBadRequest
	case login.ReasonProviderDenied, login.ReasonClaimMismatch, login.ReasonDomainNotAllowed, login.ReasonGroupOverage:
		return http.StatusForbidden
	case login.ReasonExchangeFailed, login.ReasonProviderError, "":
		return http.StatusBadGateway
	case login.ReasonIssuerUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

func orInternal(r login.Reason) login.Reason {
	if r == "" {
		return "internal"
	}
	return r
}

// stripSessionCookies removes the gateway's own cookies (the session and
// the login state) from an outbound request: they are credentials for the
// gateway, and an origin that saw them (or logged them) could replay them
// against every session route. Other cookies pass untouched.
func stripSessionCookies(h http.Header, snap *Snapshot) {
	ss := snap.session
	if ss == nil || ss.mgr == nil || len(h["Cookie"]) == 0 {
		return
	}
	name := ss.mgr.Config().CookieName
	var keep []string
	changed := false
	for _, line := range h["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			n, _, _ := strings.Cut(p, "=")
			n = strings.TrimSpace(n)
			if n == name || n == name+"-login" {
				changed = true
				continue
			}
			keep = append(keep, p)
		}
	}
	if !changed {
		return
	}
	delete(h, "Cookie")
	if len(keep) > 0 {
		h["Cookie"] = []string{strings.Join(keep, "; ")}
	}
}
