package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
)

// Verifier checks the tokens of one configured issuer.
type Verifier struct {
	cfg  config.Issuer
	idx  int
	src  *keySource // nil for an HMAC issuer
	hmac []byte
}

// Name is the issuer's configured name.
func (v *Verifier) Name() string { return v.cfg.Name }

// Issuer is the iss value the issuer's tokens carry.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// Available reports whether the issuer's keys are loaded.
func (v *Verifier) Available() bool { return v.src == nil || v.src.current() != nil }

// Refresh fetches the issuer's keys now, outside the schedule and the
// unknown-kid rate limit. It is a no-op for HMAC and file issuers'
// schedules (a file is re-read).
func (v *Verifier) Refresh(ctx context.Context) error {
	if v.src == nil {
		return nil
	}
	return v.src.Refresh(ctx)
}

// Fetches is how many times the issuer's keys have been fetched (for
// tests and metrics).
func (v *Verifier) Fetches() int64 {
	if v.src == nil {
		return 0
	}
	return v.src.fetches.Load()
}

func newVerifier(ctx context.Context, is config.Issuer, idx int, sources *Sources) (*Verifier, error) {
	v := &Verifier{cfg: is, idx: idx}
	if is.HMACSecretFile != "" {
		data, err := os.ReadFile(is.HMACSecretFile)
		if err != nil {
			return nil, fmt.Errorf("issuer %q: read hmac_secret_file: %w", is.Name, err)
		}
		secret := []byte(strings.TrimRight(string(data), "\r\n"))
		if len(secret) < config.MinHMACSecretBytes {
			return nil, fmt.Errorf("issuer %q: the HMAC secret is shorter than %d bytes", is.Name, config.MinHMACSecretBytes)
		}
		v.hmac = secret
		return v, nil
	}
	src, err := sources.acquire(ctx, &v.cfg)
	if err != nil {
		return nil, err
	}
	v.src = src
	return v, nil
}

// NewClaimsVerifier returns a Verifier that holds no keys and only applies
// is's claim rules (IdentityFromClaims). The login flow uses one for a
// provider given by URL rather than by an identity.issuers entry: its ID
// tokens are verified with the provider's own keys, then read with these
// rules. VerifyIDTokenSignature refuses every token.
func NewClaimsVerifier(is config.Issuer) *Verifier { return &Verifier{cfg: is, idx: -1} }

// maxIDTokenBytes bounds an ID token. It comes from the provider's token
// endpoint, not from a client, and an Entra ID token with its groups can
// be long, so the bound is looser than identity.max_token_bytes.
const maxIDTokenBytes = 256 << 10

// VerifyIDTokenSignature checks the signature of an OpenID Connect ID
// token with this issuer's keys and returns its claims, otherwise
// unchecked: the caller runs IdentityFromClaims, and its own relying-party
// checks (nonce, azp). The keys are the ones bearer tokens use, so one
// issuer has one key cache, one refresh schedule and one unknown-kid rate
// limit. The header rules are the bearer ones (strict JSON, no crit, keys
// only from the issuer, the algorithm on the issuer's list and of the
// key's type), and typ at+jwt is refused: an access token is never an ID
// token (RFC 9068 §4). An HMAC issuer verifies no ID token: its secret is
// the gateway's, not the provider's signing key. The refusal is an *Error.
func (v *Verifier) VerifyIDTokenSignature(ctx context.Context, token string) (map[string]any, error) {
	c, e := v.verifyIDTokenSignature(ctx, token)
	if e != nil {
		e.Issuer = v.cfg.Name
		return nil, e
	}
	return c, nil
}

func (v *Verifier) verifyIDTokenSignature(ctx context.Context, token string) (map[string]any, *Error) {
	switch {
	case v.src == nil:
		return nil, fail(ReasonAlgNotAllowed, "ID tokens must be signed with the provider's public keys", nil)
	case token == "":
		return nil, fail(ReasonMissing, "", nil)
	case len(token) > maxIDTokenBytes:
		return nil, fail(ReasonTooLarge, "", nil)
	case !compactChars(token) || strings.Count(token, ".") != maxTokenParts-1:
		return nil, fail(ReasonMalformed, "not a compact JWS", nil)
	}
	hdrSeg, _, _ := strings.Cut(token, ".")
	hdr, herr := parseHeader(hdrSeg)
	if herr != nil {
		return nil, herr
	}
	if t := strings.ToLower(hdr.Typ); t == "at+jwt" || t == "application/at+jwt" {
		return nil, fail(ReasonWrongType, "an access token is not an ID token", nil)
	}
	claims := &tokenClaims{}
	parser := jwt.NewParser(jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if alg, _ := t.Header["alg"].(string); alg != hdr.Alg {
			return nil, fail(ReasonMalformed, "", nil)
		}
		pub, _, e := v.selectKey(ctx, hdr.Alg, hdr.Kid)
		if e != nil {
			return nil, e
		}
		return pub, nil
	})
	if err != nil {
		return nil, mapParseError(err)
	}
	return claims.m, nil
}

// allowed reports whether alg may sign this issuer's tokens.
func (v *Verifier) allowed(alg string, ks *keySet) bool {
	if len(v.cfg.Algorithms) > 0 {
		return slices.Contains(v.cfg.Algorithms, alg)
	}
	return ks != nil && slices.Contains(ks.algs, alg)
}

// selectKey returns the key for a token's alg and kid.
func (v *Verifier) selectKey(ctx context.Context, alg, kid string) (any, *key, *Error) {
	if v.hmac != nil {
		if !v.allowed(alg, nil) {
			return nil, nil, fail(ReasonAlgNotAllowed, "", nil)
		}
		return v.hmac, nil, nil
	}
	ks := v.src.current()
	if ks == nil {
		return nil, nil, fail(ReasonIssuerUnavailable, "", nil)
	}
	if !v.allowed(alg, ks) {
		return nil, nil, fail(ReasonAlgNotAllowed, "", nil)
	}
	if len(kid) > maxKIDBytes {
		return nil, nil, fail(ReasonMalformed, "the kid header is too long", nil)
	}
	for attempt := 0; ; attempt++ {
		var found *key
		typed := 0
		for _, k := range ks.keys {
			if kid == "" {
				if k.matches(alg) {
					found = k
					typed++
				}
				continue
			}
			if k.kid == kid {
				if !k.matches(alg) {
					return nil, nil, fail(ReasonAlgNotAllowed, "the key named by kid is not of the algorithm's type", nil)
				}
				found, typed = k, 1
				break
			}
		}
		switch {
		case kid == "" && typed > 1:
			return nil, nil, fail(ReasonUnknownKID, "the token has no kid and the issuer has several keys", nil)
		case found != nil:
			return found.pub, found, nil
		case kid == "":
			return nil, nil, fail(ReasonUnknownKID, "no key of the token's algorithm", nil)
		}
		// An unknown kid: the issuer may have rotated. Refetch, at most
		// once per interval, then look again.
		if attempt > 0 || !v.src.refetchForKID(ctx) {
			return nil, nil, fail(ReasonUnknownKID, "", nil)
		}
		if ks = v.src.current(); ks == nil {
			return nil, nil, fail(ReasonIssuerUnavailable, "", nil)
		}
	}
}

// tokenClaims decodes the payload, refusing duplicate member names. It
// implements jwt.Claims only so that the library can decode into it;
// every claim is checked by check, not by the library.
type tokenClaims struct {
	m map[string]any
}

func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	if err := checkJSON(b); err != nil {
		return fail(ReasonMalformed, "invalid claims JSON", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return fail(ReasonMalformed, "the claims are not a JSON object", nil)
	}
	c.m = m
	return nil
}

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return "", nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// header is what the gateway reads of the JOSE header.
type header struct {
	Alg  string `json:"alg"`
	Kid  string `json:"kid"`
	Typ  string `json:"typ"`
	Crit any    `json:"crit"`
}

// parseHeader decodes and checks the header segment: strict JSON, no crit
// (no extension is understood, RFC 7515 §4.1.11), a known typ. jku, x5u,
// jwk and x5c are ignored: keys come only from the issuer's configuration.
func parseHeader(seg string) (header, *Error) {
	var h header
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return h, fail(ReasonMalformed, "the header is not base64url", nil)
	}
	if err := checkJSON(raw); err != nil {
		return h, fail(ReasonMalformed, "invalid header JSON", err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fail(ReasonMalformed, "invalid header", nil)
	}
	if h.Crit != nil {
		return h, fail(ReasonUnsupportedHeader, "crit", nil)
	}
	switch strings.ToLower(h.Typ) {
	case "", "jwt", "at+jwt", "application/jwt", "application/at+jwt":
	default:
		return h, fail(ReasonWrongType, "", nil)
	}
	return h, nil
}

// check verifies the claims of a bearer token whose signature is valid,
// and builds the identity; sum is the token's SHA-256.
func (v *Verifier) check(c map[string]any, now time.Time, sum *[32]byte) (*identity.Identity, time.Time, *Error) {
	id, exp, e := v.claims(c, v.cfg.Audiences, now, true, identity.MethodBearer)
	if e != nil {
		return nil, time.Time{}, e
	}
	id.Fingerprint = identity.FingerprintOfSum(sum)
	return id, exp, nil
}

// ClaimsCheck says how IdentityFromClaims reads a set of claims.
type ClaimsCheck struct {
	// Audience, when not "", is the one aud value accepted instead of the
	// issuer's audiences: an ID token is addressed to the login client
	// (OpenID Connect Core §2), not to the APIs the issuer's access tokens
	// are for.
	Audience string
	// Now, when not zero, turns on the token checks at that instant: exp,
	// nbf and iat with the issuer's clock skew and the issuer's lifetime
	// cap. Zero skips them: a session outlives its ID token, and its claims
	// are re-read on every request only for the issuer's claim rules.
	Now time.Time
	// Method is the identity's method; "" is bearer. A session identity is
	// never a service.
	Method identity.Method
}

// IdentityFromClaims applies the issuer's rules to claims whose signature
// has been verified elsewhere (an ID token, or the claims of a browser
// session built from one): iss, aud (see ClaimsCheck.Audience), optionally
// the token times, the required claims, the allowed domains (Google hd),
// the Entra ID group-overage check, and the claim mapping that fills the
// identity. Numbers may be float64 or json.Number. The refusal is an
// *Error naming this issuer; the identity's Fingerprint is left for the
// caller, and Expiry is the claims' exp when there is one.
func (v *Verifier) IdentityFromClaims(c map[string]any, chk ClaimsCheck) (*identity.Identity, error) {
	if c == nil {
		return nil, &Error{Reason: ReasonMalformed, Issuer: v.cfg.Name, Detail: "no claims"}
	}
	aud := v.cfg.Audiences
	if chk.Audience != "" {
		aud = []string{chk.Audience}
	}
	method := chk.Method
	if method == "" {
		method = identity.MethodBearer
	}
	id, _, e := v.claims(c, aud, chk.Now, !chk.Now.IsZero(), method)
	if e != nil {
		e.Issuer = v.cfg.Name
		return nil, e
	}
	if chk.Audience != "" {
		id.ClientID = chk.Audience
	}
	return id, nil
}

// claims checks c against the issuer's rules (the token times only when
// timed) and builds the identity.
func (v *Verifier) claims(c map[string]any, audiences []string, now time.Time, timed bool, method identity.Method) (*identity.Identity, time.Time, *Error) {
	skew := v.cfg.ClockSkew
	if iss, _ := c["iss"].(string); iss != v.cfg.Issuer {
		return nil, time.Time{}, fail(ReasonWrongIssuer, "", nil)
	}
	if !audienceOK(c["aud"], audiences) {
		return nil, time.Time{}, fail(ReasonWrongAudience, "", nil)
	}
	exp, ok, bad := numericDate(c, "exp")
	switch {
	case !timed:
	case bad:
		return nil, time.Time{}, fail(ReasonMalformed, "exp is not a number", nil)
	case !ok:
		return nil, time.Time{}, fail(ReasonMissingClaim, "exp", nil)
	case now.After(exp.Add(skew)):
		return nil, time.Time{}, fail(ReasonExpired, "", nil)
	}
	if timed {
		iat, ok, bad := numericDate(c, "iat")
		switch {
		case bad:
			return nil, time.Time{}, fail(ReasonMalformed, "iat is not a number", nil)
		case !ok:
			return nil, time.Time{}, fail(ReasonMissingClaim, "iat", nil)
		case iat.After(now.Add(skew)):
			return nil, time.Time{}, fail(ReasonIssuedInFuture, "", nil)
		}
		if nbf, ok, bad := numericDate(c, "nbf"); bad {
			return nil, time.Time{}, fail(ReasonMalformed, "nbf is not a number", nil)
		} else if ok && nbf.After(now.Add(skew)) {
			return nil, time.Time{}, fail(ReasonNotYetValid, "", nil)
		}
		// A zero cap is no cap: only claims-only verifiers (a login
		// provider named by URL) have one; configured issuers' caps are
		// validated positive.
		if limit := v.cfg.MaxTokenLifetime; limit > 0 && exp.Sub(iat) > limit {
			return nil, time.Time{}, fail(ReasonLifetimeTooLong, "", nil)
		}
	}
	for _, rc := range v.cfg.RequiredClaims {
		val, ok := lookup(c, rc.Name)
		if !ok || empty(val) {
			return nil, time.Time{}, fail(ReasonMissingClaim, rc.Name, nil)
		}
		if len(rc.Values) > 0 && !anyValueIn(val, rc.Values) {
			return nil, time.Time{}, fail(ReasonClaimMismatch, rc.Name, nil)
		}
	}
	m := v.cfg.Claims
	id := &identity.Identity{
		Method:     method,
		Issuer:     v.cfg.Issuer,
		IssuerName: v.cfg.Name,
		Subject:    stringClaim(c, m.Subject),
		Name:       stringClaim(c, m.Name),
		Email:      email(c, m.Email),
		Groups:     listClaims(c, m.Groups, false),
		Roles:      listClaims(c, m.Roles, false),
		Scopes:     listClaims(c, m.Scopes, true),
		ClientID:   firstString(c, "azp", "client_id", "cid", "appid"),
		Expiry:     exp,
		Claims:     c,
	}
	if id.Subject == "" {
		return nil, time.Time{}, fail(ReasonMissingClaim, m.Subject, nil)
	}
	switch v.cfg.Preset {
	case config.PresetEntra:
		if len(id.Groups) == 0 && entraOverage(c) {
			return nil, time.Time{}, fail(ReasonGroupOverage,
				"configure the app registration to emit only the groups assigned to the application "+
					`(groupMembershipClaims "ApplicationGroup", token configuration "Groups assigned to the application") or use app roles`, nil)
		}
		idtyp, _ := c["idtyp"].(string)
		oid, _ := c["oid"].(string)
		_, hasScp := c["scp"]
		id.Service = idtyp == "app" || !hasScp && oid != "" && oid == id.Subject
	case config.PresetOkta:
		cid, _ := c["cid"].(string)
		id.Service = cid != "" && cid == id.Subject
	case config.PresetGoogle:
		if len(v.cfg.AllowedDomains) > 0 {
			hd, _ := c["hd"].(string)
			if !slices.Contains(v.cfg.AllowedDomains, strings.ToLower(hd)) {
				return nil, time.Time{}, fail(ReasonDomainNotAllowed, "", nil)
			}
		}
		id.Service = strings.HasSuffix(strings.ToLower(id.Email), ".gserviceaccount.com")
	case config.PresetKeycloak:
		user, _ := c["preferred_username"].(string)
		id.Service = strings.HasPrefix(user, "service-account-")
	default:
		gty, _ := c["gty"].(string)
		id.Service = gty == "client-credentials" || gty == "client_credentials" ||
			id.Subject == firstString(c, "client_id") || id.Subject == firstString(c, "azp")
	}
	if method == identity.MethodSession {
		// A browser login is a person: the service heuristics above read
		// access-token conventions (azp equals sub for a client's own
		// token) that an ID token can meet by accident.
		id.Service = false
	}
	return id, exp, nil
}

// entraOverage reports the Entra ID signs that the groups did not fit in
// the token: a _claim_names entry for groups, or hasgroups.
func entraOverage(c map[string]any) bool {
	if names, ok := c["_claim_names"].(map[string]any); ok {
		if _, ok := names["groups"]; ok {
			return true
		}
	}
	has, _ := c["hasgroups"].(bool)
	return has
}

func audienceOK(aud any, accepted []string) bool {
	switch a := aud.(type) {
	case string:
		return a != "" && slices.Contains(accepted, a)
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && s != "" && slices.Contains(accepted, s) {
				return true
			}
		}
	}
	return false
}

// numericDate reads a NumericDate claim. ok is false when absent, bad
// when present but not a finite, non-negative number.
func numericDate(c map[string]any, name string) (t time.Time, ok, bad bool) {
	raw, present := c[name]
	if !present {
		return time.Time{}, false, false
	}
	f, isNum := raw.(float64)
	if n, ok := raw.(json.Number); ok {
		// Claims decoded with UseNumber (the login flow's userinfo).
		var err error
		f, err = n.Float64()
		isNum = err == nil
	}
	if !isNum || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false, true
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, false
}

// lookup follows a dotted claim path through nested objects. A claim whose
// own name contains dots is found too, when it exists at the top level.
func lookup(c map[string]any, path string) (any, bool) {
	if v, ok := c[path]; ok {
		return v, true
	}
	var cur any = c
	for part := range strings.SplitSeq(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func anyValueIn(v any, accepted []string) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if anyValueIn(e, accepted) {
				return true
			}
		}
		return false
	case string:
		return slices.Contains(accepted, x)
	case bool, float64:
		b, _ := json.Marshal(x)
		return slices.Contains(accepted, string(b))
	case json.Number:
		return slices.Contains(accepted, x.String())
	}
	return false
}

func stringClaim(c map[string]any, path string) string {
	if path == "" {
		return ""
	}
	v, _ := lookup(c, path)
	s, _ := v.(string)
	return s
}

func firstString(c map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := c[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// email returns the mapped e-mail address, or "" when the provider says
// it is unverified or it is not one plain address (a second "@" has been
// used to slip another domain past domain checks).
func email(c map[string]any, path string) string {
	e := stringClaim(c, path)
	if e == "" || strings.Count(e, "@") != 1 || strings.ContainsAny(e, " \t\r\n<>,;\"") {
		return ""
	}
	if verified, ok := c["email_verified"].(bool); ok && !verified {
		return ""
	}
	return e
}

// listClaims merges the string values of the claims at paths: lists of
// strings, or single strings (split on spaces when split is set, as in the
// scope claim). Duplicates are dropped; nil when there are none.
func listClaims(c map[string]any, paths []string, split bool) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, p := range paths {
		v, ok := lookup(c, p)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			if split {
				for f := range strings.FieldsSeq(x) {
					add(f)
				}
			} else {
				add(x)
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					add(s)
				}
			}
		}
	}
	return out
}

// mapParseError turns a golang-jwt error into a typed one.
func mapParseError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fail(ReasonMalformed, "", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail(ReasonBadSignature, "", nil)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The only unverifiable case left: an alg the library does not
		// know ("None", "HS1", ...).
		return fail(ReasonAlgNotAllowed, "", nil)
	}
	return fail(ReasonMalformed, "", err)
}
