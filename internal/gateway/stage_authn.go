package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/authn"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/route"
)

// authnFetchTimeout bounds the first key fetches of new issuers at start
// and on reload.
const authnFetchTimeout = 30 * time.Second

// bearerRealm is the realm of every Bearer challenge.
const bearerRealm = `Bearer realm="edgegate"`

// authnStage is the compiled bearer-token verification of one snapshot.
type authnStage struct {
	// identity is the configuration set was built from, to reuse set on a
	// reload that does not change it.
	identity config.Identity
	set      *authn.Set
	// sources outlive snapshots: each stage hands them to the next, so an
	// issuer whose key settings did not change keeps its keys, schedule and
	// rate limit. Their refreshers stop when the gateway closes.
	sources *authn.Sources
	// routes is indexed by config.Route.Index.
	routes []routeAuthn
}

// routeAuthn is one route's compiled authentication.
type routeAuthn struct {
	mode    config.AuthMode
	allow   authn.Allow
	forward bool
	// ok are the success counters, resolved once so the hot path does not
	// hash label values.
	okBearer, okSession prometheus.Counter
}

func compileAuthn(cfg *config.Config, prev *Snapshot, g *Gateway) (*authnStage, error) {
	var prevStage *authnStage
	if prev != nil {
		prevStage = prev.authn
	}
	st := &authnStage{identity: cfg.Identity}
	if prevStage != nil && prevStage.sources != nil {
		st.sources = prevStage.sources
	} else {
		m := &g.metrics.Authn
		st.sources = authn.NewSources(g.streamsCtx, nil, g.log, authn.Hooks{
			Fetched: func(issuer string, err error) {
				result := "ok"
				if err != nil {
					result = "error"
				}
				m.JWKSFetches.WithLabelValues(issuer, result).Inc()
			},
			Age: func(issuer string, age time.Duration) { m.JWKSAge.WithLabelValues(issuer).Set(age.Seconds()) },
		})
	}
	if prevStage != nil && prevStage.set != nil && reflect.DeepEqual(prevStage.identity, cfg.Identity) {
		st.set = prevStage.set
	} else {
		ctx, cancel := context.WithTimeout(g.streamsCtx, authnFetchTimeout)
		defer cancel()
		set, err := authn.NewSet(ctx, cfg.Identity, authn.Options{Sources: st.sources})
		if err != nil {
			if prevStage != nil {
				st.sources.Sweep(prevStage.set)
			}
			return nil, fmt.Errorf("identity: %w", err)
		}
		st.set = set
		var keep *authn.Set
		if prevStage != nil {
			keep = prevStage.set
		}
		st.sources.Sweep(keep, set)
		for _, v := range set.Verifiers() {
			if !v.Available() {
				g.log.Warn("issuer keys unavailable; its tokens get 503 until they can be fetched", "issuer", v.Name())
			}
		}
	}
	st.routes = make([]routeAuthn, len(cfg.Routes))
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		ra := routeAuthn{mode: rc.Auth.Mode, forward: rc.Auth.ForwardToken}
		if ra.mode == "" {
			ra.mode = config.AuthPublic
		}
		allow, err := st.set.Allow(rc.Auth.Issuers)
		if err != nil {
			return nil, fmt.Errorf("routes[%d].auth.issuers: %w", i, err)
		}
		ra.allow = allow
		ra.okBearer = g.metrics.Authn.Successes.WithLabelValues(rc.Name, string(identity.MethodBearer))
		ra.okSession = g.metrics.Authn.Successes.WithLabelValues(rc.Name, string(identity.MethodSession))
		st.routes[rc.Index] = ra
	}
	return st, nil
}

// authenticate establishes who is calling route rt. It returns the
// identity (identity.Anonymous on public routes), or an error to render
// (401 with WWW-Authenticate for API callers), or handled=true when it has
// already answered (a browser sent to the login page).
//
// A route that takes both bearer tokens and sessions decides by the
// Authorization header alone: when it is present the request is a bearer
// request, whatever cookies it carries, and a bad token is refused rather
// than retried as a session; without it, only the session is looked at.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState) (id *identity.Identity, handled bool, err error) {
	as := snap.authn
	if as == nil || rt.Config.Index >= len(as.routes) {
		return nil, false, httperr.New(http.StatusInternalServerError, "authn.not_compiled", "internal error", nil)
	}
	ra := &as.routes[rt.Config.Index]
	switch ra.mode {
	case config.AuthPublic:
		return &identity.Anonymous, false, nil
	case config.AuthSession:
		return g.viaSession(w, r, snap, rt, st, ra)
	case config.AuthBearerOrSession:
		if _, ok := r.Header["Authorization"]; !ok {
			return g.viaSession(w, r, snap, rt, st, ra)
		}
	}
	vals := r.Header["Authorization"]
	if !ra.forward {
		// Origins get the signed assertion, never the caller's token.
		delete(r.Header, "Authorization")
	}
	token, perr := bearerToken(vals)
	if perr != nil {
		return nil, false, g.authnFailure(r, snap, st, perr, "")
	}
	id, verr := as.set.Verify(r.Context(), token, ra.allow)
	if verr != nil {
		return nil, false, g.authnFailure(r, snap, st, verr, token)
	}
	ra.okBearer.Inc()
	return id, false, nil
}

func (g *Gateway) viaSession(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState, ra *routeAuthn) (*identity.Identity, bool, error) {
	if !ra.forward {
		// A session route never interprets Authorization; it is not
		// passed on either.
		delete(r.Header, "Authorization")
	}
	id, handled, err := g.sessionIdentity(w, r, snap, rt, st)
	if err != nil || handled {
		return nil, handled, err
	}
	if id == nil {
		// Fail closed: no session and no answer from the session stage.
		return nil, false, httperr.New(http.StatusUnauthorized, "authn.missing", "sign-in required", nil)
	}
	ra.okSession.Inc()
	return id, false, nil
}

// bearerToken extracts the token of an Authorization: Bearer header
// (RFC 6750 §2.1). Exactly one header, the Bearer scheme in any case, one
// or more spaces, then the value. The value's characters are checked by
// authn.Set.Verify, and only when the token is not a cached one: a cache
// hit is a token whose exact bytes were verified before, and an 800-byte
// scan per request is a measurable part of the repeated-token path.
func bearerToken(vals []string) (string, *authn.Error) {
	switch len(vals) {
	case 0:
		return "", &authn.Error{Reason: authn.ReasonMissing}
	case 1:
	default:
		return "", &authn.Error{Reason: authn.ReasonMalformed, Detail: "more than one Authorization header"}
	}
	scheme, rest, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", &authn.Error{Reason: authn.ReasonMissing, Detail: "the Authorization header does not use the Bearer scheme"}
	}
	tok := strings.TrimLeft(rest, " ")
	if tok == "" {
		return "", &authn.Error{Reason: authn.ReasonMissing}
	}
	return tok, nil
}

// authnFailure records a refused credential (audit event, metric, debug
// log) and returns the response: 401 with a Bearer challenge, or 503 when
// the issuer's keys are unavailable. token is used only for its
// fingerprint.
func (g *Gateway) authnFailure(r *http.Request, snap *Snapshot, st *reqState, err error, token string) error {
	reason := authn.ReasonOf(err)
	if reason == "" {
		reason = authn.ReasonMalformed
	}
	var ae *authn.Error
	desc := reason.Description()
	issuerName := ""
	if e, ok := err.(*authn.Error); ok {
		ae = e
		desc = e.Description()
		issuerName = e.Issuer
	}
	g.metrics.Authn.Failures.WithLabelValues(st.route, string(reason)).Inc()
	ev := audit.Event{
		Time: time.Now(), Kind: audit.KindAuthnFailure, RequestID: st.id, Route: st.route,
		Method: r.Method, Host: st.hy.Host, Path: st.hy.Path, Decision: "deny", Reason: string(reason),
		Fingerprint: identity.Fingerprint(token),
	}
	if st.hy.ClientIP.IsValid() {
		ev.ClientIP = st.hy.ClientIP.String()
	}
	if issuerName != "" {
		if v := snap.authn.set.Verifier(issuerName); v != nil {
			ev.Issuer = v.Issuer()
		}
		ev.Detail = map[string]string{"issuer_name": issuerName}
	}
	if recErr := g.record(r.Context(), ev); recErr != nil {
		return recErr
	}
	if g.log.Enabled(r.Context(), slog.LevelDebug) && ae != nil && ae.Err != nil {
		g.log.Debug("token refused", "request_id", st.id, "reason", string(reason), "cause", ae.Err.Error())
	}
	code := "authn." + string(reason)
	if reason == authn.ReasonIssuerUnavailable {
		he := httperr.New(http.StatusServiceUnavailable, code, desc, nil)
		he.Header = http.Header{"Retry-After": {"5"}}
		return he
	}
	challenge := bearerRealm
	if reason != authn.ReasonMissing {
		// RFC 6750 §3: error and a description made of the allowed
		// characters only (no quote, no backslash).
		challenge += `, error="invalid_token", error_description="` + challengeText(desc) + `"`
	}
	he := httperr.New(http.StatusUnauthorized, code, desc, nil)
	he.Header = http.Header{"Www-Authenticate": {challenge}}
	return he
}

// challengeText keeps the characters RFC 6750 allows in error_description.
func challengeText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = '\''
		}
	}
	return string(b)
}
