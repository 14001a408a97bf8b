package authn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
)

// idClaims is a valid ID token claim set of p for the login client "web".
func idClaims(p *testIdP) jwt.MapClaims {
	c := claims(p)
	c["aud"] = "web"
	c["nonce"] = "n"
	return c
}

// TestVerifyIDTokenSignature: ID tokens are verified with the issuer's own
// key source (one fetch serves bearer tokens and logins) under the bearer
// header rules, and an access token or an HMAC issuer never yields one.
func TestVerifyIDTokenSignature(t *testing.T) {
	testKeys(t)
	p := newTestIdP(t, rsaTestKey(0, "k1"))
	set := newSet(t, issuerCfg(p))
	v := set.Verifier("idp")
	good := sign(t, rsaTestKey(0, "k1"), idClaims(p))

	c, err := v.VerifyIDTokenSignature(context.Background(), good)
	if err != nil || c["sub"] != "alice" {
		t.Fatalf("a good ID token: %v %v", c, err)
	}
	// The bearer path reads the same keys: no second fetch.
	if _, err := set.Verify(context.Background(), sign(t, rsaTestKey(0, "k1"), claims(p)), AllowAll); err != nil {
		t.Fatal(err)
	}
	if n := p.jwksHits.Load(); n != 1 {
		t.Errorf("%d JWKS fetches for an ID token and a bearer token of one issuer, want 1", n)
	}

	cases := []struct {
		name  string
		token string
		want  Reason
	}{
		{"empty", "", ReasonMissing},
		{"garbage", "not a token", ReasonMalformed},
		{"alg none", rawToken(`{"alg":"none","kid":"k1"}`, mustJSON(idClaims(p)), nil), ReasonAlgNotAllowed},
		{"HS256 with the public key", rawToken(`{"alg":"HS256","kid":"k1"}`, mustJSON(idClaims(p)), hmacWithPublicKey), ReasonAlgNotAllowed},
		{"other key", sign(t, rsaTestKey(1, "k1"), idClaims(p)), ReasonBadSignature},
		{"unknown kid", sign(t, rsaTestKey(1, "k9"), idClaims(p)), ReasonUnknownKID},
		{"access token", sign(t, rsaTestKey(0, "k1"), idClaims(p), map[string]any{"typ": "at+jwt"}), ReasonWrongType},
		{"crit header", sign(t, rsaTestKey(0, "k1"), idClaims(p), map[string]any{"crit": []string{"exp"}}), ReasonUnsupportedHeader},
		{"duplicate keys", rawToken(`{"alg":"RS256","kid":"k1"}`, `{"sub":"alice","sub":"admin"}`, rs256Signer(rsaKeys[0])), ReasonMalformed},
		{"too large", strings.Repeat("a", maxIDTokenBytes+1), ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.VerifyIDTokenSignature(context.Background(), c.token)
			if got := reasonOf(t, err); got != c.want {
				t.Fatalf("reason %q (%v), want %q", got, err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Issuer != "idp" {
				t.Errorf("the refusal does not name the issuer: %v", err)
			}
		})
	}

	t.Run("claims-only verifier", func(t *testing.T) {
		cv := NewClaimsVerifier(issuerCfg(p))
		if _, err := cv.VerifyIDTokenSignature(context.Background(), good); reasonOf(t, err) != ReasonAlgNotAllowed {
			t.Fatalf("a verifier without keys accepted a token: %v", err)
		}
	})
}

// hmacWithPublicKey signs with HS256 keyed by the issuer's published RSA
// key, the classic algorithm-confusion attack.
func hmacWithPublicKey(in string) []byte {
	pub, _ := json.Marshal(rsaTestKey(0, "k1").jwk())
	sig, err := jwt.SigningMethodHS256.Sign(in, pub)
	if err != nil {
		panic(err)
	}
	return sig
}

// TestIdentityFromClaims: the issuer's rules on claims verified elsewhere.
func TestIdentityFromClaims(t *testing.T) {
	testKeys(t)
	p := newTestIdP(t, rsaTestKey(0, "k1"))
	now := time.Now()
	cases := []struct {
		name  string
		mod   func(*config.Issuer)
		edit  func(c map[string]any)
		chk   ClaimsCheck
		want  Reason
		check func(t *testing.T, id *identity.Identity)
	}{
		{name: "ID token for the client", chk: ClaimsCheck{Audience: "web", Now: now, Method: identity.MethodSession},
			check: func(t *testing.T, id *identity.Identity) {
				if id.Method != identity.MethodSession || id.ClientID != "web" || id.Subject != "alice" || id.IssuerName != "idp" ||
					strings.Join(id.Scopes, " ") != "read write" || id.Email != "alice@example.com" || id.Fingerprint != "" {
					t.Errorf("identity %+v", id)
				}
			}},
		{name: "issuer audiences are not the client", chk: ClaimsCheck{Now: now}, want: ReasonWrongAudience},
		{name: "wrong client", chk: ClaimsCheck{Audience: "other", Now: now}, want: ReasonWrongAudience},
		{name: "wrong issuer", edit: func(c map[string]any) { c["iss"] = "https://evil.example" }, chk: ClaimsCheck{Audience: "web"}, want: ReasonWrongIssuer},
		{name: "expired", edit: func(c map[string]any) { c["exp"] = float64(now.Add(-2 * time.Minute).Unix()) }, chk: ClaimsCheck{Audience: "web", Now: now}, want: ReasonExpired},
		{name: "expired but untimed (a session's claims)", edit: func(c map[string]any) { c["exp"] = float64(now.Add(-2 * time.Hour).Unix()) }, chk: ClaimsCheck{Audience: "web"}},
		{name: "skew from the issuer", mod: func(is *config.Issuer) { is.ClockSkew = 5 * time.Minute },
			edit: func(c map[string]any) { c["exp"] = float64(now.Add(-2 * time.Minute).Unix()) }, chk: ClaimsCheck{Audience: "web", Now: now}},
		{name: "json.Number times", edit: func(c map[string]any) {
			c["exp"] = json.Number("1")
		}, chk: ClaimsCheck{Audience: "web", Now: now}, want: ReasonExpired},
		{name: "lifetime cap", mod: func(is *config.Issuer) { is.MaxTokenLifetime = time.Minute }, chk: ClaimsCheck{Audience: "web", Now: now}, want: ReasonLifetimeTooLong},
		{name: "no cap on a claims-only verifier", mod: func(is *config.Issuer) { is.MaxTokenLifetime = 0 },
			edit: func(c map[string]any) { c["exp"] = float64(now.Add(30 * 24 * time.Hour).Unix()) }, chk: ClaimsCheck{Audience: "web", Now: now}},
		{name: "required number as json.Number", mod: func(is *config.Issuer) {
			is.RequiredClaims = []config.RequiredClaim{{Name: "level", Values: []string{"3"}}}
		}, edit: func(c map[string]any) { c["level"] = json.Number("3") }, chk: ClaimsCheck{Audience: "web"}},
		{name: "required claim", mod: func(is *config.Issuer) { is.RequiredClaims = []config.RequiredClaim{{Name: "department"}} },
			chk: ClaimsCheck{Audience: "web"}, want: ReasonMissingClaim},
		{name: "google domain", mod: func(is *config.Issuer) { is.Preset, is.AllowedDomains = config.PresetGoogle, []string{"example.com"} },
			chk: ClaimsCheck{Audience: "web"}, want: ReasonDomainNotAllowed},
		{name: "entra overage", mod: func(is *config.Issuer) { is.Preset = config.PresetEntra },
			edit: func(c map[string]any) { delete(c, "groups"); c["_claim_names"] = map[string]any{"groups": "src1"} },
			chk:  ClaimsCheck{Audience: "web"}, want: ReasonGroupOverage},
		{name: "a session is never a service", edit: func(c map[string]any) { c["azp"] = "alice" },
			chk: ClaimsCheck{Audience: "web", Method: identity.MethodSession}, check: func(t *testing.T, id *identity.Identity) {
				if id.Service {
					t.Error("a browser session became a service identity")
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := NewClaimsVerifier(issuerCfg(p, func(is *config.Issuer) {
				if c.mod != nil {
					c.mod(is)
				}
			}))
			m := map[string]any{}
			for k, val := range idClaims(p) {
				m[k] = val
			}
			// As decoded from JSON: numbers are float64, lists []any.
			var decoded map[string]any
			_ = json.Unmarshal([]byte(mustJSON(m)), &decoded)
			if c.edit != nil {
				c.edit(decoded)
			}
			id, err := v.IdentityFromClaims(decoded, c.chk)
			if got := reasonOf(t, err); got != c.want {
				t.Fatalf("reason %q (%v), want %q", got, err, c.want)
			}
			if c.check != nil && err == nil {
				c.check(t, id)
			}
		})
	}
}

// FuzzVerifyIDTokenSignature: any input is refused with a typed reason
// naming the issuer (never a panic), unless it is the token the issuer
// really signed.
func FuzzVerifyIDTokenSignature(f *testing.F) {
	testKeys(f)
	p := newTestIdP(f, rsaTestKey(0, "k1"))
	v := newSet(f, issuerCfg(p)).Verifier("idp")
	good := sign(f, rsaTestKey(0, "k1"), idClaims(p))
	for _, s := range []string{good, "", "a.b.c", good + "x", strings.Replace(good, ".", "..", 1),
		rawToken(`{"alg":"none"}`, `{}`, nil), rawToken(`{"alg":"RS256","typ":"at+jwt","kid":"k1"}`, mustJSON(idClaims(p)), rs256Signer(rsaKeys[0]))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.VerifyIDTokenSignature(context.Background(), raw)
		if err == nil {
			if raw != good || c["sub"] != "alice" {
				t.Fatalf("accepted %q", raw)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason == "" || e.Issuer != "idp" {
			t.Fatalf("untyped refusal %v", err)
		}
	})
}
