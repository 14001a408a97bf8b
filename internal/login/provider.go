package login

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxDocBytes bounds what is read from the provider (discovery, JWKS,
// token and userinfo responses).
const maxDocBytes = 1 << 20

// Skew is the clock skew tolerated on exp and iat.
const Skew = 60 * time.Second

// minRefetch spaces JWKS refetches triggered by unknown kids, so tokens
// with random kids cannot turn into a stream of requests to the provider.
const minRefetch = 5 * time.Second

// asymmetric are the only ID token algorithms accepted: never none, never
// HMAC (a client secret is not a signing key here).
var asymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// Metadata is the part of the provider's discovery document the RP uses.
type Metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	IDTokenAlgs           []string `json:"id_token_signing_alg_values_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// Provider is a discovered OpenID provider with its cached key set.
type Provider struct {
	Meta Metadata
	hc   *http.Client
	algs []jose.SignatureAlgorithm
	now  func() time.Time

	mu          sync.Mutex
	keys        jose.JSONWebKeySet
	lastRefetch time.Time // of the last refetch an unknown kid caused
	fetchFlight chan struct{}
}

// Discover fetches issuer's discovery document and key set. The document's
// issuer must equal issuer exactly (OpenID Connect Discovery §4.3).
func Discover(ctx context.Context, hc *http.Client, issuer string) (*Provider, error) {
	return discover(ctx, hc, issuer, true)
}

// DiscoverEndpoints fetches issuer's discovery document only: for a
// provider whose ID tokens are verified with the keys of an identity
// issuer (Config.Issuer), which holds the one key cache of that issuer.
// The Provider's own VerifyIDToken then fetches its keys on first use.
func DiscoverEndpoints(ctx context.Context, hc *http.Client, issuer string) (*Provider, error) {
	return discover(ctx, hc, issuer, false)
}

func discover(ctx context.Context, hc *http.Client, issuer string, keys bool) (*Provider, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	var meta Metadata
	if err := getJSON(ctx, hc, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", "", &meta); err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	if meta.Issuer != issuer {
		return nil, fmt.Errorf("discover %s: the document names issuer %q; it must be identical", issuer, meta.Issuer)
	}
	for name, v := range map[string]string{"authorization_endpoint": meta.AuthorizationEndpoint, "token_endpoint": meta.TokenEndpoint, "jwks_uri": meta.JWKSURI} {
		if !keys && name == "jwks_uri" {
			continue
		}
		if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
			return nil, fmt.Errorf("discover %s: %s %q is not an http(s) URL", issuer, name, v)
		}
	}
	p := &Provider{Meta: meta, hc: hc, now: time.Now}
	for _, a := range asymmetric {
		if len(meta.IDTokenAlgs) == 0 && a == jose.RS256 || slices.Contains(meta.IDTokenAlgs, string(a)) {
			p.algs = append(p.algs, a)
		}
	}
	if !keys {
		// The identity issuer's algorithms apply, not the document's.
		return p, nil
	}
	if len(p.algs) == 0 {
		return nil, fmt.Errorf("discover %s: the provider signs ID tokens only with %v; edgegate accepts asymmetric algorithms (RS*, PS*, ES*, EdDSA)", issuer, meta.IDTokenAlgs)
	}
	if err := p.fetchKeys(ctx); err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	return p, nil
}

func (p *Provider) fetchKeys(ctx context.Context) error {
	var ks jose.JSONWebKeySet
	if err := getJSON(ctx, p.hc, p.Meta.JWKSURI, "", &ks); err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	// Keep only public signing keys; an unparseable or private key is
	// ignored rather than trusted.
	var keep []jose.JSONWebKey
	for _, k := range ks.Keys {
		if k.Use != "" && k.Use != "sig" || !k.Valid() || !k.IsPublic() {
			continue
		}
		keep = append(keep, k)
	}
	p.mu.Lock()
	p.keys = jose.JSONWebKeySet{Keys: keep}
	p.mu.Unlock()
	return nil
}

// refetch reloads the key set after an unknown kid, at most once per
// minRefetch; concurrent callers share one fetch. The last good set is kept
// when the fetch fails.
func (p *Provider) refetch(ctx context.Context) {
	p.mu.Lock()
	if p.fetchFlight != nil {
		ch := p.fetchFlight
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	if !p.lastRefetch.IsZero() && p.now().Sub(p.lastRefetch) < minRefetch {
		p.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	p.fetchFlight = ch
	p.lastRefetch = p.now()
	p.mu.Unlock()
	_ = p.fetchKeys(ctx)
	p.mu.Lock()
	p.fetchFlight = nil
	p.mu.Unlock()
	close(ch)
}

func (p *Provider) candidates(kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []jose.JSONWebKey
	for _, k := range p.keys.Keys {
		if kid != "" && k.KeyID != kid || !keyFits(k, alg) {
			continue
		}
		out = append(out, k)
	}
	return out
}

func (p *Provider) hasKID(kid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.keys.Keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

// keyFits reports whether k's type can verify alg (and k's alg, if set,
// is alg).
func keyFits(k jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(string(alg), "ES")
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// verifySignature checks the JWS and returns its payload.
func (p *Provider) verifySignature(ctx context.Context, raw string) ([]byte, error) {
	if len(raw) > maxDocBytes/4 || strings.Count(raw, ".") != 2 {
		return nil, fail(ReasonMalformed, "not a compact JWS")
	}
	jws, err := jose.ParseSigned(raw, asymmetric)
	if err != nil {
		if strings.Contains(err.Error(), "algorithm") {
			return nil, wrapFail(ReasonAlgNotAllowed, err)
		}
		return nil, wrapFail(ReasonMalformed, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fail(ReasonMalformed, "want exactly one signature")
	}
	h := jws.Signatures[0].Protected
	alg := jose.SignatureAlgorithm(h.Algorithm)
	if !slices.Contains(p.algs, alg) {
		return nil, fail(ReasonAlgNotAllowed, "algorithm %q is not one the provider publishes", h.Algorithm)
	}
	if len(h.ExtraHeaders) > 0 {
		if _, ok := h.ExtraHeaders["crit"]; ok {
			return nil, fail(ReasonMalformed, "unsupported crit header")
		}
	}
	// jku, x5u and an embedded jwk are never used: keys come only from the
	// provider's jwks_uri.
	keys := p.candidates(h.KeyID, alg)
	if len(keys) == 0 {
		p.refetch(ctx)
		keys = p.candidates(h.KeyID, alg)
	}
	switch {
	case len(keys) == 0 && h.KeyID != "" && p.hasKID(h.KeyID):
		return nil, fail(ReasonAlgNotAllowed, "the provider key %q does not fit %s", truncate(h.KeyID, 64), alg)
	case len(keys) == 0 && h.KeyID != "":
		return nil, fail(ReasonUnknownKID, "no provider key has kid %q", truncate(h.KeyID, 64))
	case len(keys) == 0:
		return nil, fail(ReasonBadSignature, "no provider key fits %s", alg)
	case len(keys) > 1 && h.KeyID == "":
		return nil, fail(ReasonAmbiguousKey, "the token names no kid and the provider has %d %s keys", len(keys), alg)
	case len(keys) > 1:
		return nil, fail(ReasonAmbiguousKey, "the provider publishes kid %q more than once", truncate(h.KeyID, 64))
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return nil, fail(ReasonBadSignature, "signature does not verify")
	}
	return payload, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Claims are verified ID token claims.
type Claims map[string]any

// String returns the string claim name, or "".
func (c Claims) String(name string) string {
	s, _ := c[name].(string)
	return s
}

// Strings returns a string or list-of-strings claim.
func (c Claims) Strings(name string) []string {
	switch v := c[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Time returns a NumericDate claim; ok is false when absent or not a
// number. Numbers are json.Number (decoded here with UseNumber) or float64
// (decoded by internal/authn, or by a session store from JSON).
func (c Claims) Time(name string) (time.Time, bool) {
	var f float64
	switch n := c[name].(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return time.Time{}, false
		}
	case float64:
		f = n
	default:
		return time.Time{}, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// VerifyIDToken checks an ID token as OpenID Connect Core §3.1.3.7 asks:
// signature by a provider key, iss, aud (with azp), exp, iat, sub and, when
// nonce is not "", the nonce. The skew is Skew and the algorithms are the
// ones the provider publishes: the Manager applies an identity issuer's
// own rules instead (Config.Issuer).
func (p *Provider) VerifyIDToken(ctx context.Context, raw, clientID, nonce string) (Claims, error) {
	c, err := p.verifiedClaims(ctx, raw)
	if err != nil {
		return nil, err
	}
	if err := rpChecks(c, p.Meta.Issuer, clientID, nonce); err != nil {
		return nil, err
	}
	now := p.now()
	exp, ok := c.Time("exp")
	if !ok {
		return nil, fail(ReasonMalformed, "exp is not a number")
	}
	if !now.Before(exp.Add(Skew)) {
		return nil, fail(ReasonExpired, "the ID token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	iat, ok := c.Time("iat")
	if !ok {
		return nil, fail(ReasonMalformed, "iat is not a number")
	}
	if iat.After(now.Add(Skew)) {
		return nil, fail(ReasonIssuedInFuture, "iat is in the future")
	}
	if nbf, ok := c.Time("nbf"); ok && nbf.After(now.Add(Skew)) {
		return nil, fail(ReasonIssuedInFuture, "nbf is in the future")
	}
	return c, nil
}

// verifiedClaims checks raw's signature with the provider's keys and
// decodes its claims.
func (p *Provider) verifiedClaims(ctx context.Context, raw string) (Claims, error) {
	payload, err := p.verifySignature(ctx, raw)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var c Claims
	if err := dec.Decode(&c); err != nil || c == nil {
		return nil, fail(ReasonMalformed, "claims are not a JSON object")
	}
	return c, nil
}

// rpChecks are the relying party's own ID token checks, whoever verified
// the signature and whatever issuer rules apply next: the claims OpenID
// Connect requires, iss, sub, aud naming this client, azp, and the nonce
// when one was sent.
func rpChecks(c Claims, issuer, clientID, nonce string) error {
	for _, name := range []string{"iss", "sub", "aud", "exp", "iat"} {
		if _, ok := c[name]; !ok {
			return fail(ReasonMissingClaim, "claim %s is missing", name)
		}
	}
	if c.String("iss") != issuer {
		return fail(ReasonWrongIssuer, "iss is %q, want %q", truncate(c.String("iss"), 200), issuer)
	}
	if sub := c.String("sub"); sub == "" || len(sub) > 255 {
		return fail(ReasonMissingClaim, "sub is empty, not a string or longer than 255 bytes")
	}
	aud := c.Strings("aud")
	if !slices.Contains(aud, clientID) {
		return fail(ReasonWrongAudience, "aud does not contain this client")
	}
	azp, hasAZP := c["azp"]
	if (len(aud) > 1 || hasAZP) && azp != clientID {
		return fail(ReasonWrongAZP, "azp is not this client")
	}
	if nonce != "" && c.String("nonce") != nonce {
		return fail(ReasonNonceMismatch, "nonce does not match the one sent")
	}
	return nil
}

var errTooLarge = errors.New("response larger than 1 MiB")

// getJSON GETs url (with a bearer token when token is not "") and decodes
// a JSON object.
func getJSON(ctx context.Context, hc *http.Client, url, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

func readBody(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocBytes {
		return nil, errTooLarge
	}
	return b, nil
}
