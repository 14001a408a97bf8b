package verifier

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testEdge is a stand-in for the gateway's JWKS endpoint and signer, so
// every corner of the token format can be produced.
type testEdge struct {
	mu      sync.Mutex
	keys    map[string]crypto.Signer
	fetches atomic.Int64
	srv     *httptest.Server
}

func newTestEdge(t testing.TB) *testEdge {
	e := &testEdge{keys: map[string]crypto.Signer{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.fetches.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write(e.jwks())
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *testEdge) url() string { return e.srv.URL + "/.well-known/edgegate/jwks.json" }

func (e *testEdge) addKey(kid string, alg string) crypto.Signer {
	var k crypto.Signer
	if alg == "EdDSA" {
		_, k, _ = ed25519.GenerateKey(rand.Reader)
	} else {
		k, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	e.mu.Lock()
	e.keys[kid] = k
	e.mu.Unlock()
	return k
}

func (e *testEdge) removeKey(kid string) {
	e.mu.Lock()
	delete(e.keys, kid)
	e.mu.Unlock()
}

func (e *testEdge) jwks() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range e.keys {
		set.Keys = append(set.Keys, pubJWK(kid, k))
	}
	b, _ := json.Marshal(set)
	return b
}

func pubJWK(kid string, k crypto.Signer) map[string]string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		pub, _ := k.PublicKey.Bytes()
		return map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
			"x": base64.RawURLEncoding.EncodeToString(pub[1:33]), "y": base64.RawURLEncoding.EncodeToString(pub[33:])}
	case ed25519.PrivateKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA",
			"x": base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey))}
	}
	return nil
}

func enc(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign makes a compact JWS with any header and claims, signed by k
// (ES256 as r‖s unless der).
func sign(hdr, cl map[string]any, k crypto.Signer, der bool) string {
	in := enc(hdr) + "." + enc(cl)
	var sig []byte
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256([]byte(in))
		if der {
			sig, _ = ecdsa.SignASN1(rand.Reader, k, sum[:])
		} else {
			r, s, _ := ecdsa.Sign(rand.Reader, k, sum[:])
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(in))
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func goodClaims() map[string]any {
	return map[string]any{"iss": "https://edge.test", "aud": "billing", "sub": "u-1", "email": "ada@example.com",
		"groups": []string{"eng", "ops"}, "roles": []string{"admin"}, "auth": "bearer", "svc": "", "jti": "j1",
		"iat": testNow.Add(-10 * time.Second).Unix(), "exp": testNow.Add(110 * time.Second).Unix()}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func newTestVerifier(t testing.TB, e *testEdge, mod func(*Options)) *Verifier {
	t.Helper()
	o := Options{JWKSURL: e.url(), Issuer: "https://edge.test", Audience: "billing", Now: func() time.Time { return testNow }}
	if mod != nil {
		mod(&o)
	}
	v, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyValid(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			e := newTestEdge(t)
			k := e.addKey("k1", alg)
			v := newTestVerifier(t, e, nil)
			tok := sign(map[string]any{"alg": alg, "kid": "k1", "typ": "JWT"}, goodClaims(), k, false)
			id, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "u-1" || id.Email != "ada@example.com" || strings.Join(id.Groups, ",") != "eng,ops" ||
				id.Roles[0] != "admin" || id.Method != "bearer" || id.Audience != "billing" || id.ID != "j1" {
				t.Fatalf("identity = %+v", id)
			}
			// A list audience naming us is fine too.
			tok = sign(map[string]any{"alg": alg, "kid": "k1"}, with(goodClaims(), "aud", []string{"other", "billing"}), k, false)
			if _, err := v.Verify(tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyRefusesForgeries(t *testing.T) {
	e := newTestEdge(t)
	k := e.addKey("k1", "ES256")
	e.addKey("ed", "EdDSA")
	v := newTestVerifier(t, e, nil)
	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	attackerEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hdr := map[string]any{"alg": "ES256", "kid": "k1", "typ": "JWT"}
	good := sign(hdr, goodClaims(), k, false)
	for !strings.ContainsAny(good, "-_") {
		// The std-alphabet case below needs a character to change.
		good = sign(hdr, goodClaims(), k, false)
	}
	parts := strings.Split(good, ".")
	rawSig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	pubPEMish, _ := k.Public().(*ecdsa.PublicKey).Bytes()
	hs := func(key []byte) string {
		in := enc(map[string]any{"alg": "HS256", "kid": "k1"}) + "." + parts[1]
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"empty", "", ErrMissing},
		{"alg none", enc(map[string]any{"alg": "none", "kid": "k1"}) + "." + parts[1] + ".", ErrAlgorithm},
		{"alg None keeps signature", enc(map[string]any{"alg": "None", "kid": "k1"}) + "." + parts[1] + "." + parts[2], ErrAlgorithm},
		{"alg es256 lower case", enc(map[string]any{"alg": "es256", "kid": "k1"}) + "." + parts[1] + "." + parts[2], ErrAlgorithm},
		{"HS256 with the public key", hs(pubPEMish), ErrAlgorithm},
		{"HS256 with empty key", hs(nil), ErrAlgorithm},
		{"RS256", enc(map[string]any{"alg": "RS256", "kid": "k1"}) + "." + parts[1] + "." + parts[2], ErrAlgorithm},
		{"other key same kid", sign(hdr, goodClaims(), attackerEC, false), ErrSignature},
		{"EdDSA header on EC kid", sign(map[string]any{"alg": "EdDSA", "kid": "k1"}, goodClaims(), attacker, false), ErrSignature},
		{"ES256 header on Ed kid", sign(map[string]any{"alg": "ES256", "kid": "ed"}, goodClaims(), k, false), ErrSignature},
		{"embedded jwk", sign(map[string]any{"alg": "EdDSA", "kid": "ed", "jwk": pubJWK("x", attacker)}, goodClaims(), attacker, false), ErrSignature},
		{"unknown kid", sign(map[string]any{"alg": "EdDSA", "kid": "evil"}, goodClaims(), attacker, false), ErrUnknownKey},
		{"kid traversal", sign(map[string]any{"alg": "ES256", "kid": "../../dev/null"}, goodClaims(), k, false), ErrUnknownKey},
		{"no kid", sign(map[string]any{"alg": "ES256"}, goodClaims(), k, false), ErrMalformed},
		{"crit", sign(map[string]any{"alg": "ES256", "kid": "k1", "crit": []string{"exp"}}, goodClaims(), k, false), ErrMalformed},
		{"DER signature", sign(hdr, goodClaims(), k, true), ErrSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(rawSig[:63]), ErrSignature},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good), ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"json serialization", `{"payload":"` + parts[1] + `","signatures":[]}`, ErrMalformed},
		{"claims changed", parts[0] + "." + enc(with(goodClaims(), "roles", []string{"root"})) + "." + parts[2], ErrSignature},
		{"expired", sign(hdr, with(goodClaims(), "iat", testNow.Add(-3*time.Minute).Unix(), "exp", testNow.Add(-31*time.Second).Unix()), k, false), ErrExpired},
		{"no exp", sign(hdr, with(goodClaims(), "exp", nil), k, false), ErrMalformed},
		{"no iat", sign(hdr, with(goodClaims(), "iat", nil), k, false), ErrMalformed},
		{"iat in the future", sign(hdr, with(goodClaims(), "iat", testNow.Add(time.Minute).Unix(), "exp", testNow.Add(2*time.Minute).Unix()), k, false), ErrNotYet},
		{"nbf in the future", sign(hdr, with(goodClaims(), "nbf", testNow.Add(time.Minute).Unix()), k, false), ErrNotYet},
		{"lifetime over 5m", sign(hdr, with(goodClaims(), "exp", testNow.Add(time.Hour).Unix()), k, false), ErrMalformed},
		{"wrong issuer", sign(hdr, with(goodClaims(), "iss", "https://evil.test"), k, false), ErrIssuer},
		{"wrong audience", sign(hdr, with(goodClaims(), "aud", "payroll"), k, false), ErrAudience},
		{"empty audience list", sign(hdr, with(goodClaims(), "aud", []string{}), k, false), ErrAudience},
		{"empty audience", sign(hdr, with(goodClaims(), "aud", ""), k, false), ErrAudience},
		{"no subject", sign(hdr, with(goodClaims(), "sub", ""), k, false), ErrMalformed},
		{"oversized", strings.Repeat("a", MaxTokenBytes+1), ErrMalformed},
		{"trailing json", enc(hdr) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"a"}{}`)) + ".AAAA", ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(tc.tok)
			if err == nil {
				t.Fatalf("accepted: %+v", id)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.tok != "" && len(tc.tok) > 20 && strings.Contains(err.Error(), tc.tok) {
				t.Fatal("the error repeats the token")
			}
		})
	}
}

func TestRotationAndRefetchRateLimit(t *testing.T) {
	e := newTestEdge(t)
	k1 := e.addKey("k1", "ES256")
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v := newTestVerifier(t, e, func(o *Options) { o.Now = clock; o.MinRefetchInterval = time.Minute })
	if e.fetches.Load() != 1 {
		t.Fatalf("fetches after New = %d", e.fetches.Load())
	}
	// A new key shows up (the gateway pre-publishes, but this origin's
	// cache is older): an unknown kid triggers one refetch.
	k2 := e.addKey("k2", "ES256")
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	claims := with(goodClaims(), "iat", clock().Unix(), "exp", clock().Add(time.Minute).Unix())
	if _, err := v.Verify(sign(map[string]any{"alg": "ES256", "kid": "k2"}, claims, k2, false)); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	n := e.fetches.Load()
	// A flood of made-up kids costs nothing more within the interval.
	_, attacker, _ := ed25519.GenerateKey(rand.Reader)
	for i := range 50 {
		tok := sign(map[string]any{"alg": "EdDSA", "kid": fmt.Sprint("junk", i)}, claims, attacker, false)
		if _, err := v.Verify(tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("junk kid: %v", err)
		}
	}
	if got := e.fetches.Load(); got != n {
		t.Fatalf("%d extra fetches for junk kids within the rate limit", got-n)
	}
	// The old key still verifies while published; once removed (and the
	// set refetched), its cached verifications are dropped too.
	old := sign(map[string]any{"alg": "ES256", "kid": "k1"}, claims, k1, false)
	if _, err := v.Verify(old); err != nil {
		t.Fatal(err)
	}
	e.removeKey("k1")
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	claims = with(goodClaims(), "iat", clock().Unix(), "exp", clock().Add(time.Minute).Unix())
	e.addKey("k3", "ES256")
	k3 := e.keys["k3"]
	if _, err := v.Verify(sign(map[string]any{"alg": "ES256", "kid": "k3"}, claims, k3, false)); err != nil {
		t.Fatal(err)
	}
	old = sign(map[string]any{"alg": "ES256", "kid": "k1"}, claims, k1, false)
	if _, err := v.Verify(old); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removed key: %v", err)
	}
}

func TestCacheInvalidatedWhenKeyRemoved(t *testing.T) {
	e := newTestEdge(t)
	k1 := e.addKey("k1", "EdDSA")
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v := newTestVerifier(t, e, func(o *Options) { o.Now = clock; o.MinRefetchInterval = time.Second })
	tok := sign(map[string]any{"alg": "EdDSA", "kid": "k1"}, goodClaims(), k1, false)
	for range 3 {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	e.removeKey("k1")
	k2 := e.addKey("k2", "EdDSA")
	mu.Lock()
	now = now.Add(5 * time.Second)
	mu.Unlock()
	if _, err := v.Verify(sign(map[string]any{"alg": "EdDSA", "kid": "k2"}, goodClaims(), k2, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err == nil {
		t.Fatal("a cached assertion of a removed key still verifies")
	}
	// And an expired one is refused even from the cache.
	mu.Lock()
	now = testNow.Add(10 * time.Minute)
	mu.Unlock()
	tok2 := sign(map[string]any{"alg": "EdDSA", "kid": "k2"}, goodClaims(), k2, false)
	if _, err := v.Verify(tok2); !errors.Is(err, ErrExpired) {
		t.Fatalf("stolen expired assertion: %v", err)
	}
}

func TestNewFailsWithoutKeys(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(bytes.Repeat([]byte(" "), maxJWKSBytes+10))
			return
		}
		w.Write([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`))
	}))
	defer bad.Close()
	for _, u := range []string{bad.URL, bad.URL + "/big", "http://127.0.0.1:1/"} {
		_, err := New(context.Background(), Options{JWKSURL: u, Issuer: "i", Audience: "a"})
		if !errors.Is(err, ErrJWKS) {
			t.Errorf("%s: %v, want ErrJWKS", u, err)
		}
	}
	if _, err := New(context.Background(), Options{JWKSURL: bad.URL}); err == nil {
		t.Error("missing issuer and audience accepted")
	}
}

func TestMiddleware(t *testing.T) {
	e := newTestEdge(t)
	k := e.addKey("k1", "ES256")
	var logs bytes.Buffer
	v := newTestVerifier(t, e, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	app := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		if !ok {
			t.Error("no identity in context")
			return
		}
		fmt.Fprintf(w, "hello %s", id.Email)
	})))
	defer app.Close()
	tok := sign(map[string]any{"alg": "ES256", "kid": "k1"}, goodClaims(), k, false)
	cases := []struct {
		name   string
		values []string
		status int
		body   string
	}{
		{"valid", []string{tok}, 200, "hello ada@example.com"},
		{"missing", nil, 401, `"reason":"missing"`},
		{"two headers", []string{tok, tok}, 401, `"reason":"malformed"`},
		{"garbage", []string{"x.y.z"}, 401, `"reason":"malformed"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", app.URL, nil)
			req.Header.Set("X-Request-Id", "rid-"+tc.name)
			for _, val := range tc.values {
				req.Header.Add(DefaultHeader, val)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tc.status, tc.body)
			}
			if tc.status == 401 && !strings.Contains(logs.String(), "rid-"+tc.name) {
				t.Errorf("refusal not logged with the request ID: %s", logs.String())
			}
		})
	}
	if strings.Contains(logs.String(), tok[:40]) {
		t.Fatal("the log holds the assertion")
	}
}

func FuzzVerify(f *testing.F) {
	e := newTestEdge(f)
	k := e.addKey("k1", "ES256")
	ed := e.addKey("k2", "EdDSA")
	v := newTestVerifier(f, e, nil)
	valid := map[string]bool{}
	for _, c := range []struct {
		s        crypto.Signer
		alg, kid string
	}{{k, "ES256", "k1"}, {ed, "EdDSA", "k2"}} {
		tok := sign(map[string]any{"alg": c.alg, "kid": c.kid}, goodClaims(), c.s, false)
		valid[tok] = true
		f.Add(tok)
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify(tok)
		if err == nil && !valid[tok] {
			t.Fatalf("accepted a token the edge did not sign: %q (%+v)", tok, id)
		}
		if err != nil && Reason(err) == "" {
			t.Fatal("error without reason")
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		e := newTestEdge(b)
		k := e.addKey("k1", alg)
		v := newTestVerifier(b, e, nil)
		tok := sign(map[string]any{"alg": alg, "kid": "k1", "typ": "JWT"}, goodClaims(), k, false)
		b.Run(alg+"/cached", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/uncached", func(b *testing.B) {
			b.ReportAllocs()
			set := v.jwks.current()
			for b.Loop() {
				if _, _, err := v.verify(context.Background(), tok, set, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
