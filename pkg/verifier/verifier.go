// Package verifier lets an origin server check the signed identity
// assertion that the edgegate gateway adds to every authorized request, so
// the origin knows the request came through the edge and for whom, without
// trusting any header a client could forge.
//
// The gateway signs the assertion (a JWT, ES256 or EdDSA) with keys it
// rotates itself and publishes at /.well-known/edgegate/jwks.json. A
// Verifier fetches that key set, caches it (following its Cache-Control
// max-age, refetching on an unknown key ID at most once per
// MinRefetchInterval, so key rotation never breaks verification), and
// checks the signature, the algorithm (only ES256 and EdDSA), the issuer,
// the audience and the time claims of each assertion.
//
//	v, err := verifier.New(ctx, verifier.Options{
//		JWKSURL:  "https://edge.example.com/.well-known/edgegate/jwks.json",
//		Issuer:   "https://edge.example.com",
//		Audience: "billing",
//	})
//	...
//	http.ListenAndServe(":8080", v.Middleware(app))
//
// Inside app, verifier.FromContext(r.Context()) returns the caller.
//
// This package depends only on the standard library and is meant to be
// imported by other programs.
package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// DefaultHeader is the request header the gateway puts the assertion in.
const DefaultHeader = "Edgegate-Assertion"

// MaxLifetime is the longest assertion lifetime (exp - iat) accepted; the
// gateway never issues longer ones.
const MaxLifetime = 5 * time.Minute

// Errors returned by Verify; each wraps exactly one of them. Reason turns
// them into short codes for logs and metrics.
var (
	ErrMissing    = errors.New("no assertion")
	ErrMalformed  = errors.New("malformed assertion")
	ErrAlgorithm  = errors.New("algorithm not allowed")
	ErrUnknownKey = errors.New("unknown signing key")
	ErrSignature  = errors.New("bad signature")
	ErrExpired    = errors.New("assertion expired")
	ErrNotYet     = errors.New("assertion not valid yet")
	ErrIssuer     = errors.New("wrong issuer")
	ErrAudience   = errors.New("wrong audience")
	ErrJWKS       = errors.New("cannot load the gateway's key set")
)

// Reason returns a short code for a Verify error ("expired", "signature",
// ...), suitable for logs and metric labels; "" for nil.
func Reason(err error) string {
	for _, r := range []struct {
		err  error
		code string
	}{
		{ErrMissing, "missing"}, {ErrMalformed, "malformed"}, {ErrAlgorithm, "algorithm"},
		{ErrUnknownKey, "unknown_key"}, {ErrSignature, "signature"}, {ErrExpired, "expired"},
		{ErrNotYet, "not_yet_valid"}, {ErrIssuer, "issuer"}, {ErrAudience, "audience"}, {ErrJWKS, "jwks"},
	} {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	if err == nil {
		return ""
	}
	return "invalid"
}

// Identity is the verified caller an assertion names. Treat it as
// read-only; it may be shared between requests.
type Identity struct {
	// Subject is the caller's stable ID at its identity provider (sub).
	Subject string
	Email   string
	Name    string
	Groups  []string
	Roles   []string
	// Method is how the caller authenticated at the edge: "bearer" or
	// "session".
	Method string
	// Service is the configured service identity of a machine caller, and
	// ClientID the OAuth client it used.
	Service  string
	ClientID string
	// IdentityProvider is the issuer that vouched for the caller at the edge.
	IdentityProvider string
	// Issuer and Audience are the gateway and this origin, as checked.
	Issuer   string
	Audience string
	// ID is the assertion's unique ID (jti). Assertions are reused for a
	// while by the gateway, so several requests may carry the same one.
	ID string
	// RequestID is set only when the gateway is configured to sign one
	// assertion per request (assertion.request_id_claim); otherwise use
	// the X-Request-Id header to correlate.
	RequestID string
	IssuedAt  time.Time
	Expiry    time.Time
}

// Options configures New.
type Options struct {
	// JWKSURL is the gateway's key set, normally
	// https://EDGE/.well-known/edgegate/jwks.json. Required.
	JWKSURL string
	// Issuer is the gateway's assertion issuer (its assertion.issuer
	// setting). Required.
	Issuer string
	// Audience is this origin's audience (the route's assertion.audience,
	// by default the name of the route's pool). Required.
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat. Default 30s; at
	// most 2m.
	Leeway time.Duration
	// HTTPClient fetches the key set. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// Header is the request header holding the assertion. Default
	// Edgegate-Assertion.
	Header string
	// MinRefetchInterval is the least time between two key set fetches
	// caused by unknown key IDs. Default 5s.
	MinRefetchInterval time.Duration
	// Logger, when set, gets one line per request the middleware refuses
	// (request ID and reason, never the assertion).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil); for tests.
	Now func() time.Time
}

// Verifier checks assertions. It is safe for concurrent use.
type Verifier struct {
	opts  Options
	now   func() time.Time
	jwks  *jwksCache
	cache verifiedCache
}

// New checks opts and fetches the key set once; it fails if the key set
// cannot be loaded within ctx.
func New(ctx context.Context, opts Options) (*Verifier, error) {
	if opts.JWKSURL == "" || opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("verifier: JWKSURL, Issuer and Audience are required")
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.Leeway < 0 || opts.Leeway > 2*time.Minute {
		return nil, fmt.Errorf("verifier: leeway %v out of range (0 to 2m)", opts.Leeway)
	}
	if opts.Header == "" {
		opts.Header = DefaultHeader
	}
	if opts.MinRefetchInterval <= 0 {
		opts.MinRefetchInterval = 5 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	v := &Verifier{opts: opts, now: opts.Now}
	if v.now == nil {
		v.now = time.Now
	}
	v.jwks = &jwksCache{url: opts.JWKSURL, client: opts.HTTPClient, now: v.now, minFetch: opts.MinRefetchInterval, defAge: 5 * time.Minute}
	v.cache.entries = make(map[string]cached)
	if err := v.jwks.fetch(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks one assertion and returns the identity it names.
func (v *Verifier) Verify(token string) (*Identity, error) {
	return v.VerifyContext(context.Background(), token)
}

// VerifyContext is Verify with a context bounding a key set refetch.
func (v *Verifier) VerifyContext(ctx context.Context, token string) (*Identity, error) {
	now := v.now()
	set := v.jwks.current()
	if id, ok := v.cache.get(token, set.gen, now); ok {
		return id, nil
	}
	id, gen, err := v.verify(ctx, token, set, now)
	if err != nil {
		return nil, err
	}
	v.cache.put(token, id, gen)
	return id, nil
}

// verify checks a token without the cache.
func (v *Verifier) verify(ctx context.Context, token string, set *keySet, now time.Time) (*Identity, uint64, error) {
	p, err := parse(token)
	if err != nil {
		return nil, 0, err
	}
	k := set.keys[p.hdr.Kid]
	if k == nil {
		set = v.jwks.refetchFor(ctx, p.hdr.Kid)
		if k = set.keys[p.hdr.Kid]; k == nil {
			return nil, 0, fmt.Errorf("%w: kid %.40q", ErrUnknownKey, p.hdr.Kid)
		}
	}
	if !verifySig(k, p.hdr.Alg, p.signingInput, p.sig) {
		return nil, 0, ErrSignature
	}
	var c claims
	if err := strictJSON(p.payload, &c); err != nil {
		return nil, 0, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	id, err := v.check(&c, now)
	if err != nil {
		return nil, 0, err
	}
	return id, set.gen, nil
}

func (v *Verifier) check(c *claims, now time.Time) (*Identity, error) {
	if c.Iss != v.opts.Issuer {
		return nil, fmt.Errorf("%w: %.100q", ErrIssuer, c.Iss)
	}
	if !slices.Contains(c.Aud, v.opts.Audience) {
		return nil, ErrAudience
	}
	if c.Exp == nil || c.Iat == nil {
		return nil, fmt.Errorf("%w: exp and iat are required", ErrMalformed)
	}
	exp, iat := c.Exp.time(), c.Iat.time()
	if !now.Before(exp.Add(v.opts.Leeway)) {
		return nil, ErrExpired
	}
	if iat.After(now.Add(v.opts.Leeway)) {
		return nil, fmt.Errorf("%w: issued in the future", ErrNotYet)
	}
	if c.Nbf != nil && c.Nbf.time().After(now.Add(v.opts.Leeway)) {
		return nil, ErrNotYet
	}
	if exp.Sub(iat) > MaxLifetime || !exp.After(iat) {
		return nil, fmt.Errorf("%w: lifetime %v outside (0, %v]", ErrMalformed, exp.Sub(iat), MaxLifetime)
	}
	if c.Sub == "" {
		return nil, fmt.Errorf("%w: no subject", ErrMalformed)
	}
	return &Identity{Subject: c.Sub, Email: c.Email, Name: c.Name, Groups: c.Groups, Roles: c.Roles,
		Method: c.Auth, Service: c.Service, ClientID: c.ClientID, IdentityProvider: c.IDP,
		Issuer: c.Iss, Audience: v.opts.Audience, ID: c.Jti, RequestID: c.Rid, IssuedAt: iat, Expiry: exp}, nil
}

// verifiedCache remembers verified assertions by their exact text until
// they expire, so the reused assertions the gateway sends are checked once.
// An entry is valid only for the key set generation it was verified with:
// a set that lost a key invalidates it.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[string]cached
}

type cached struct {
	id  *Identity
	gen uint64
}

const maxCached = 4096

func (c *verifiedCache) get(token string, gen uint64, now time.Time) (*Identity, bool) {
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if !ok || e.gen != gen || !now.Before(e.id.Expiry) {
		return nil, false
	}
	return e.id, true
}

func (c *verifiedCache) put(token string, id *Identity, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCached {
		// Drop about an eighth at random: cheap, and no order to keep.
		n := maxCached / 8
		for k := range c.entries {
			if n--; n < 0 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[token] = cached{id: id, gen: gen}
}

type ctxKey struct{}

// NewContext returns ctx carrying id (what Middleware does; also handy in
// tests of handlers).
func NewContext(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity Middleware verified for this request.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok && id != nil
}

// Middleware lets through only requests carrying exactly one valid
// assertion, with the identity in their context (FromContext). Others get
// 401 and, with Options.Logger, a log line with the request ID and reason.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.FromRequest(r)
		if err != nil {
			if v.opts.Logger != nil {
				v.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "assertion refused",
					slog.String("request_id", r.Header.Get("X-Request-Id")), slog.String("reason", Reason(err)),
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
			}
			Unauthorized(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
	})
}

// FromRequest verifies the assertion header of r. More than one header
// value is refused: the gateway sends exactly one.
func (v *Verifier) FromRequest(r *http.Request) (*Identity, error) {
	vals := r.Header.Values(v.opts.Header)
	switch len(vals) {
	case 0:
		return nil, ErrMissing
	case 1:
	default:
		return nil, fmt.Errorf("%w: %d assertion headers", ErrMalformed, len(vals))
	}
	return v.VerifyContext(r.Context(), vals[0])
}

// Unauthorized writes the 401 answer for a refused assertion: a short JSON
// body with the reason code, never the assertion.
func Unauthorized(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("WWW-Authenticate", `Edgegate-Assertion error="invalid_token"`)
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `{"error":"unauthorized","reason":%q}`+"\n", Reason(err))
}
