package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/internal/config"
)

// Keys are generated once per test binary: RSA generation is slow.
var (
	keysOnce sync.Once
	rsaKeys  []*rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ec384Key *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
		ecKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ec384Key, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, edKey, _ = ed25519.GenerateKey(rand.Reader)
	})
}

// testKey is a signing key the test IdP publishes.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
	// noAlg leaves the alg member out of the published JWK.
	noAlg bool
}

func (k testKey) jwk() jose.JSONWebKey {
	j := jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Use: "sig"}
	if !k.noAlg {
		j.Algorithm = k.alg
	}
	return j
}

// testIdP is a real OIDC discovery + JWKS server on loopback whose key
// list the test can change.
type testIdP struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     []testKey
	jwksHits atomic.Int64
	cacheHdr string
	// issuerOverride makes discovery name another issuer.
	issuerOverride string
	down           atomic.Bool
}

func newTestIdP(t testing.TB, keys ...testKey) *testIdP {
	t.Helper()
	p := &testIdP{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := p.issuer()
		p.mu.Lock()
		if p.issuerOverride != "" {
			iss = p.issuerOverride
		}
		p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range p.keys {
			set.Keys = append(set.Keys, k.jwk())
		}
		if p.cacheHdr != "" {
			w.Header().Set("Cache-Control", p.cacheHdr)
		}
		p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testIdP) issuer() string { return p.srv.URL }

func (p *testIdP) setKeys(keys ...testKey) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

func rsaTestKey(i int, kid string) testKey { return testKey{kid: kid, alg: "RS256", priv: rsaKeys[i]} }

// issuerCfg is a validated-looking issuer for p.
func issuerCfg(p *testIdP, mod ...func(*config.Issuer)) config.Issuer {
	is := config.Issuer{
		Name:                      "idp",
		Issuer:                    p.issuer(),
		DiscoveryURL:              p.issuer() + "/.well-known/openid-configuration",
		Audiences:                 []string{"api://edgegate"},
		ClockSkew:                 config.DefaultClockSkew,
		MaxTokenLifetime:          config.DefaultMaxTokenLifetime,
		Preset:                    config.PresetGeneric,
		OnUnreachable:             config.OnUnreachableFailStart,
		UnknownKIDRefetchInterval: time.Minute,
	}
	is.Claims = config.ClaimMapping{Subject: "sub", Email: "email", Name: "name", Groups: []string{"groups"}, Roles: []string{"roles"}, Scopes: []string{"scope", "scp"}}
	for _, m := range mod {
		m(&is)
	}
	return is
}

func newSet(t testing.TB, issuers ...config.Issuer) *Set {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := NewSet(ctx, config.Identity{Issuers: issuers, TokenCacheSize: 1000, MaxTokenBytes: config.DefaultMaxTokenBytes},
		Options{Sources: NewSources(ctx, nil, nil, Hooks{})})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims returns a valid claim set for p.
func claims(p *testIdP) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": p.issuer(), "sub": "alice", "aud": "api://edgegate",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"email": "alice@example.com", "groups": []string{"eng"}, "scope": "read write",
	}
}

func sign(t testing.TB, k testKey, c jwt.MapClaims, hdr ...map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), c)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	for _, h := range hdr {
		for n, v := range h {
			if v == nil {
				delete(tok.Header, n)
			} else {
				tok.Header[n] = v
			}
		}
	}
	var key any = k.priv
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken assembles a token from raw header and payload JSON and a
// signature made by signer over them (nil signer: the given sig).
func rawToken(hdr, payload string, signer func(string) []byte) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload))
	var sig []byte
	if signer != nil {
		sig = signer(in)
	}
	return in + "." + enc.EncodeToString(sig)
}

func rs256Signer(k *rsa.PrivateKey) func(string) []byte {
	return func(in string) []byte {
		s, err := jwt.SigningMethodRS256.Sign(in, k)
		if err != nil {
			panic(err)
		}
		return s
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func reasonOf(t *testing.T, err error) Reason {
	t.Helper()
	if err == nil {
		return ""
	}
	r := ReasonOf(err)
	if r == "" {
		t.Fatalf("error without a reason: %v", err)
	}
	return r
}

var _ = fmt.Sprintf
var _ = strings.Repeat
