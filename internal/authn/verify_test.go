package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/internal/config"
)

// TestVerifyAttacks is the attack list of issue #3 and security-tests.md
// §1.1: every forged or invalid token is refused with the right reason.
func TestVerifyAttacks(t *testing.T) {
	testKeys(t)
	k1, k2 := rsaTestKey(0, "k1"), rsaTestKey(1, "k2")
	e1 := testKey{kid: "e1", alg: "ES256", priv: ecKey}
	p := newTestIdP(t, k1, k2, e1)
	set := newSet(t, issuerCfg(p))

	// The attacker's server: a token must never make the gateway fetch it.
	var attackerHits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { attackerHits.Add(1) }))
	defer attacker.Close()

	good := sign(t, k1, claims(p))
	goodParts := strings.Split(good, ".")
	other := sign(t, k1, func() jwt.MapClaims { c := claims(p); c["sub"] = "bob"; return c }())
	enc := base64.RawURLEncoding
	mod := func(f func(jwt.MapClaims)) jwt.MapClaims { c := claims(p); f(c); return c }
	now := time.Now()
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKeys[0].PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsWith := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(p))
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	noneTok := func(alg string, sig string) string {
		return enc.EncodeToString([]byte(`{"alg":"`+alg+`","kid":"k1"}`)) + "." + goodParts[1] + "." + sig
	}
	validPayload := mustJSON(map[string]any(claims(p)))
	derSig := func() string {
		// ES256 with an ASN.1 DER signature instead of raw r||s.
		in := enc.EncodeToString([]byte(`{"alg":"ES256","kid":"e1"}`)) + "." + enc.EncodeToString([]byte(validPayload))
		h := sha256.Sum256([]byte(in))
		der, _ := ecdsa.SignASN1(rand.Reader, ecKey, h[:])
		return in + "." + enc.EncodeToString(der)
	}()

	cases := []struct {
		name  string
		token string
		want  Reason
	}{
		{"valid RS256", good, ""},
		{"valid ES256", sign(t, e1, claims(p)), ""},
		{"valid typ at+jwt", sign(t, k1, claims(p), map[string]any{"typ": "at+jwt"}), ""},
		{"valid aud list", sign(t, k1, mod(func(c jwt.MapClaims) { c["aud"] = []string{"x", "api://edgegate"} })), ""},
		{"exp just inside skew", sign(t, k1, mod(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() })), ""},
		{"nbf just inside skew", sign(t, k1, mod(func(c jwt.MapClaims) { c["nbf"] = now.Add(30 * time.Second).Unix() })), ""},

		{"empty", "", ReasonMissing},
		{"alg none", noneTok("none", ""), ReasonAlgNotAllowed},
		{"alg None", noneTok("None", ""), ReasonAlgNotAllowed},
		{"alg NONE", noneTok("NONE", ""), ReasonAlgNotAllowed},
		{"alg nOnE", noneTok("nOnE", ""), ReasonAlgNotAllowed},
		{"alg none with original signature", noneTok("none", goodParts[2]), ReasonAlgNotAllowed},
		{"HS256 with the RSA public key (PEM)", hsWith(pubPEM), ReasonAlgNotAllowed},
		{"HS256 with the RSA public key (DER)", hsWith(pubDER), ReasonAlgNotAllowed},
		{"HS256 with the PEM without newline", hsWith([]byte(strings.TrimSpace(string(pubPEM)))), ReasonAlgNotAllowed},
		{"embedded jwk, no kid, several keys", sign(t, testKey{alg: "RS256", priv: rsaKeys[2]}, claims(p),
			map[string]any{"jwk": testKey{alg: "RS256", priv: rsaKeys[2]}.jwk()}), ReasonUnknownKID},
		{"embedded jwk with a known kid", sign(t, testKey{kid: "k1", alg: "RS256", priv: rsaKeys[2]}, claims(p),
			map[string]any{"jwk": testKey{kid: "k1", alg: "RS256", priv: rsaKeys[2]}.jwk()}), ReasonBadSignature},
		{"jku to the attacker", sign(t, testKey{kid: "evil", alg: "RS256", priv: rsaKeys[2]}, claims(p),
			map[string]any{"jku": attacker.URL + "/jwks"}), ReasonUnknownKID},
		{"x5u to the attacker", sign(t, testKey{kid: "k1", alg: "RS256", priv: rsaKeys[2]}, claims(p),
			map[string]any{"x5u": attacker.URL + "/cert.pem"}), ReasonBadSignature},
		{"kid path traversal", sign(t, testKey{kid: "../../../../dev/null", alg: "RS256", priv: rsaKeys[2]}, claims(p)), ReasonUnknownKID},
		{"kid /dev/null", sign(t, testKey{kid: "/dev/null", alg: "RS256", priv: rsaKeys[2]}, claims(p)), ReasonUnknownKID},
		{"kid SQL", sign(t, testKey{kid: "' OR '1'='1", alg: "RS256", priv: rsaKeys[2]}, claims(p)), ReasonUnknownKID},
		{"kid shell", sign(t, testKey{kid: "$(curl evil);sleep 5", alg: "RS256", priv: rsaKeys[2]}, claims(p)), ReasonUnknownKID},
		{"kid very long", sign(t, testKey{kid: strings.Repeat("k", 1000), alg: "RS256", priv: rsaKeys[2]}, claims(p)), ReasonMalformed},
		{"kid of an EC key with RS256", sign(t, testKey{kid: "e1", alg: "RS256", priv: rsaKeys[0]}, claims(p)), ReasonAlgNotAllowed},
		{"ES384 not published", sign(t, testKey{kid: "e1", alg: "ES384", priv: ec384Key}, claims(p)), ReasonAlgNotAllowed},
		{"expired", sign(t, k1, mod(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-10 * time.Minute).Unix()
			c["exp"] = now.Add(-2 * time.Minute).Unix()
		})), ReasonExpired},
		{"exp missing", sign(t, k1, mod(func(c jwt.MapClaims) { delete(c, "exp") })), ReasonMissingClaim},
		{"exp a string", sign(t, k1, mod(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })), ReasonMalformed},
		{"nbf in the future", sign(t, k1, mod(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), ReasonNotYetValid},
		{"iat in the future", sign(t, k1, mod(func(c jwt.MapClaims) {
			c["iat"] = now.Add(2 * time.Minute).Unix()
			c["exp"] = now.Add(7 * time.Minute).Unix()
		})), ReasonIssuedInFuture},
		{"iat missing", sign(t, k1, mod(func(c jwt.MapClaims) { delete(c, "iat") })), ReasonMissingClaim},
		{"wrong issuer", sign(t, k1, mod(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), ReasonWrongIssuer},
		{"issuer missing", sign(t, k1, mod(func(c jwt.MapClaims) { delete(c, "iss") })), ReasonWrongIssuer},
		{"wrong audience", sign(t, k1, mod(func(c jwt.MapClaims) { c["aud"] = "api://other" })), ReasonWrongAudience},
		{"audience empty array", sign(t, k1, mod(func(c jwt.MapClaims) { c["aud"] = []string{} })), ReasonWrongAudience},
		{"audience empty string", sign(t, k1, mod(func(c jwt.MapClaims) { c["aud"] = "" })), ReasonWrongAudience},
		{"audience missing", sign(t, k1, mod(func(c jwt.MapClaims) { delete(c, "aud") })), ReasonWrongAudience},
		{"audience list without ours", sign(t, k1, mod(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })), ReasonWrongAudience},
		{"lifetime over the maximum", sign(t, k1, mod(func(c jwt.MapClaims) { c["exp"] = now.Add(3 * time.Hour).Unix() })), ReasonLifetimeTooLong},
		{"sub missing", sign(t, k1, mod(func(c jwt.MapClaims) { delete(c, "sub") })), ReasonMissingClaim},
		{"signature stripped", goodParts[0] + "." + goodParts[1] + ".", ReasonBadSignature},
		{"signature truncated", goodParts[0] + "." + goodParts[1] + "." + goodParts[2][:40], ReasonBadSignature},
		{"signature of another token", goodParts[0] + "." + goodParts[1] + "." + strings.Split(other, ".")[2], ReasonBadSignature},
		{"header tampered", enc.EncodeToString([]byte(`{"alg":"RS256","kid":"k2"}`)) + "." + goodParts[1] + "." + goodParts[2], ReasonBadSignature},
		{"payload tampered", goodParts[0] + "." + strings.Split(other, ".")[1] + "." + goodParts[2], ReasonBadSignature},
		{"claims injection with a bad signature", rawToken(`{"alg":"RS256","kid":"k1"}`,
			mustJSON(map[string]any(mod(func(c jwt.MapClaims) { c["roles"] = []string{"admin"} }))), rs256Signer(rsaKeys[2])), ReasonBadSignature},
		{"64 KiB token", goodParts[0] + "." + strings.Repeat("A", 64<<10) + "." + goodParts[2], ReasonTooLarge},
		{"duplicate claim", rawToken(`{"alg":"RS256","kid":"k1"}`,
			strings.Replace(validPayload, `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1), rs256Signer(rsaKeys[0])), ReasonMalformed},
		{"duplicate claim by escape", rawToken(`{"alg":"RS256","kid":"k1"}`,
			strings.Replace(validPayload, `"sub":"alice"`, `"sub":"alice","s\u0075b":"admin"`, 1), rs256Signer(rsaKeys[0])), ReasonMalformed},
		{"duplicate header member", rawToken(`{"alg":"RS256","kid":"k1","kid":"k2"}`, validPayload, rs256Signer(rsaKeys[0])), ReasonMalformed},
		{"unknown crit", sign(t, k1, claims(p), map[string]any{"crit": []string{"exp"}, "exp": 1}), ReasonUnsupportedHeader},
		{"typ logout+jwt", sign(t, k1, claims(p), map[string]any{"typ": "logout+jwt"}), ReasonWrongType},
		{"two segments", goodParts[0] + "." + goodParts[1], ReasonMalformed},
		{"four segments", good + "." + goodParts[2], ReasonMalformed},
		{"JWS JSON serialization", `{"payload":"` + goodParts[1] + `","signatures":[{"protected":"` + goodParts[0] + `","signature":"` + goodParts[2] + `"}]}`, ReasonMalformed},
		{"base64 padding", goodParts[0] + "=." + goodParts[1] + "." + goodParts[2], ReasonMalformed},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good), ReasonMalformed},
		{"garbage", "not a token at all", ReasonMalformed},
		{"header not an object", enc.EncodeToString([]byte(`[1]`)) + "." + goodParts[1] + "." + goodParts[2], ReasonMalformed},
		{"ECDSA DER signature", derSig, ReasonBadSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := set.Verify(context.Background(), tc.token, AllowAll)
			if got := reasonOf(t, err); got != tc.want {
				t.Fatalf("reason %q, want %q (err %v)", got, tc.want, err)
			}
			if tc.want == "" && (id == nil || id.Subject != "alice") {
				t.Fatalf("identity %+v", id)
			}
			if err != nil && tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Fatal("the error contains the token")
			}
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("the gateway fetched the attacker's URL %d times", n)
	}
}

func TestErrorsIs(t *testing.T) {
	err := error(&Error{Reason: ReasonExpired, Issuer: "x"})
	if !errors.Is(err, ErrExpired) || errors.Is(err, ErrMalformed) {
		t.Fatal("errors.Is does not follow the reason")
	}
	if ReasonOf(err) != ReasonExpired || ReasonOf(ErrBadSignature) != ReasonBadSignature || ReasonOf(errors.New("x")) != "" {
		t.Fatal("ReasonOf")
	}
	for _, r := range Reasons {
		if sentinels[r] == nil || r.Description() == "the token was refused" {
			t.Errorf("reason %q lacks a sentinel or a description", r)
		}
	}
}

func TestHMACIssuer(t *testing.T) {
	testKeys(t)
	p := newTestIdP(t)
	dir := t.TempDir()
	secret := []byte(strings.Repeat("s3cr3t-", 6))
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	set := newSet(t, issuerCfg(p, func(is *config.Issuer) {
		is.DiscoveryURL, is.HMACSecretFile, is.Algorithms = "", file, []string{"HS256"}
	}))
	mk := func(m jwt.SigningMethod, key []byte) string {
		s, err := jwt.NewWithClaims(m, claims(p)).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name  string
		token string
		want  Reason
	}{
		{"valid", mk(jwt.SigningMethodHS256, secret), ""},
		{"wrong secret", mk(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40))), ReasonBadSignature},
		{"empty secret", rawToken(`{"alg":"HS256"}`, mustJSON(map[string]any(claims(p))), nil), ReasonBadSignature},
		{"HS512 not allowed", mk(jwt.SigningMethodHS512, secret), ReasonAlgNotAllowed},
		{"RS256 not allowed", sign(t, rsaTestKey(0, "k1"), claims(p)), ReasonAlgNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := set.Verify(context.Background(), tc.token, AllowAll)
			if got := reasonOf(t, err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}

// TestWeakHMACSecrets: a token signed with a common password never passes
// an HMAC issuer, whose secret is at least 32 bytes.
func TestWeakHMACSecrets(t *testing.T) {
	p := newTestIdP(t)
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("a-long-and-random-enough-secret-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	set := newSet(t, issuerCfg(p, func(is *config.Issuer) {
		is.DiscoveryURL, is.HMACSecretFile, is.Algorithms = "", file, []string{"HS256"}
	}))
	for _, pw := range []string{"", "secret", "password", "123456", "changeme", "jwt", "key", "admin", "letmein", "qwerty"} {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(p)).SignedString([]byte(pw))
		if _, err := set.Verify(context.Background(), s, AllowAll); ReasonOf(err) != ReasonBadSignature {
			t.Errorf("secret %q: %v", pw, err)
		}
	}
}

func TestRouteIssuerSelection(t *testing.T) {
	testKeys(t)
	a := newTestIdP(t, rsaTestKey(0, "a1"))
	b := newTestIdP(t, rsaTestKey(1, "b1"))
	set := newSet(t, issuerCfg(a, func(is *config.Issuer) { is.Name = "a" }), issuerCfg(b, func(is *config.Issuer) { is.Name = "b" }))
	onlyA, err := set.Allow([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	tokB := sign(t, rsaTestKey(1, "b1"), claims(b))
	if _, err := set.Verify(context.Background(), tokB, AllowAll); err != nil {
		t.Fatalf("all issuers: %v", err)
	}
	// Cached now; the cache must still honour the route's issuers.
	if _, err := set.Verify(context.Background(), tokB, onlyA); ReasonOf(err) != ReasonWrongIssuer {
		t.Fatalf("issuer b on a route for a: %v", err)
	}
	if _, err := set.Allow([]string{"nope"}); err == nil {
		t.Fatal("unknown issuer name accepted")
	}
}
