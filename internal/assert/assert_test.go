package assert

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/keys"
	"github.com/edgegate/edgegate/pkg/verifier"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// setup returns a ring, a minter and a verifier that checks against the
// ring's JWKS over a real loopback server.
func setup(t testing.TB, alg keys.Algorithm, perRequest bool) (*clock, *keys.Ring, *Minter, *verifier.Verifier) {
	t.Helper()
	c := &clock{t: time.Now().Truncate(time.Second)}
	ring, err := keys.Open(keys.Options{Algorithm: alg, Period: time.Hour, RetireAfter: 10 * time.Minute, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := ring.JWKS()
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	m, err := New(ring, Options{Issuer: "https://edge.test", TTL: 2 * time.Minute, PerRequest: perRequest, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(context.Background(), verifier.Options{JWKSURL: srv.URL, Issuer: "https://edge.test", Audience: "billing", Now: c.now, MinRefetchInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, ring, m, v
}

func ada() *identity.Identity {
	return &identity.Identity{Method: identity.MethodBearer, Issuer: "https://idp.test", Subject: "u-1", Email: "ada@example.com",
		Groups: []string{"eng"}, Roles: []string{"admin"}, ClientID: "cli", Fingerprint: identity.Fingerprint("token-1")}
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	p := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(p[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []keys.Algorithm{keys.ES256, keys.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			c, _, m, v := setup(t, alg, false)
			tok, reused, err := m.Mint(ada(), "billing", "rid-1")
			if err != nil || reused {
				t.Fatalf("Mint: %v reused=%v", err, reused)
			}
			id, err := v.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "u-1" || id.Email != "ada@example.com" || id.Roles[0] != "admin" || id.Groups[0] != "eng" ||
				id.Method != "bearer" || id.ClientID != "cli" || id.IdentityProvider != "https://idp.test" {
				t.Fatalf("identity = %+v", id)
			}
			cl := claimsOf(t, tok)
			if cl["exp"].(float64)-cl["iat"].(float64) != 120 || cl["jti"] == "" || cl["rid"] != nil {
				t.Fatalf("claims = %v", cl)
			}
			// Another origin's verifier refuses it.
			if _, err := v.Verify(strings.Replace(tok, "a", "b", 1)); err == nil {
				t.Fatal("tampered token accepted")
			}
			c.add(2*time.Minute + 31*time.Second)
			if _, err := v.Verify(tok); !errors.Is(err, verifier.ErrExpired) {
				t.Fatalf("expired (stolen) assertion: %v", err)
			}
		})
	}
}

func TestReuse(t *testing.T) {
	c, ring, m, _ := setup(t, keys.ES256, false)
	t1, _, _ := m.Mint(ada(), "billing", "r1")
	t2, reused, _ := m.Mint(ada(), "billing", "r2")
	if t1 != t2 || !reused {
		t.Fatal("same identity and audience: not reused")
	}
	if t3, reused, _ := m.Mint(ada(), "payroll", "r3"); t3 == t1 || reused {
		t.Fatal("reused across audiences")
	}
	changed := ada()
	changed.Groups = []string{"eng", "admins"}
	if t4, reused, _ := m.Mint(changed, "billing", "r4"); t4 == t1 || reused {
		t.Fatal("reused although the groups changed")
	}
	other := ada()
	other.Fingerprint = identity.Fingerprint("token-2")
	other.Subject = "u-2"
	if t5, _, _ := m.Mint(other, "billing", "r5"); t5 == t1 {
		t.Fatal("reused across callers")
	}
	// One entry per credential and audience: the changed identity took it.
	t1, _, _ = m.Mint(ada(), "billing", "r1")
	// Reused until half its life has passed, then a fresh one.
	c.add(59 * time.Second)
	if t6, _, _ := m.Mint(ada(), "billing", "r6"); t6 != t1 {
		t.Fatal("not reused at 59s of 120s")
	}
	c.add(time.Second)
	t7, reused, _ := m.Mint(ada(), "billing", "r7")
	if t7 == t1 || reused {
		t.Fatal("reused past half its life")
	}
	// A rotation changes the signing key and so the assertion.
	c.add(time.Hour)
	_ = ring.Refresh()
	t8, _, _ := m.Mint(ada(), "billing", "r8")
	if t8 == t7 {
		t.Fatal("reused across a key rotation")
	}
	if m.Len() == 0 {
		t.Fatal("cache empty")
	}
}

func TestPerRequestAndLimits(t *testing.T) {
	c, _, m, v := setup(t, keys.EdDSA, true)
	t1, _, _ := m.Mint(ada(), "billing", "rid-1")
	t2, reused, _ := m.Mint(ada(), "billing", "rid-2")
	if t1 == t2 || reused {
		t.Fatal("per-request mode reused an assertion")
	}
	id, err := v.Verify(t2)
	if err != nil || id.RequestID != "rid-2" {
		t.Fatalf("rid = %q, %v", id.RequestID, err)
	}
	// Never longer than the caller's own credential.
	short := ada()
	short.Expiry = c.now().Add(30 * time.Second)
	tok, _, _ := m.Mint(short, "billing", "r")
	if cl := claimsOf(t, tok); int64(cl["exp"].(float64)) != short.Expiry.Unix() {
		t.Fatalf("exp %v, want the identity's expiry", cl["exp"])
	}
	short.Expiry = c.now().Add(-time.Second)
	if _, _, err := m.Mint(short, "billing", "r"); err == nil {
		t.Fatal("minted for an expired identity")
	}
	for _, id := range []*identity.Identity{&identity.Anonymous, nil, {Method: identity.MethodBearer}} {
		if _, _, err := m.Mint(id, "billing", "r"); !errors.Is(err, ErrNotAuthenticated) {
			t.Fatalf("Mint(%+v) = %v", id, err)
		}
	}
	if _, err := New(nil, Options{Issuer: "x", TTL: 6 * time.Minute}); err == nil {
		t.Fatal("ttl over 5m accepted")
	}
}

func BenchmarkMint(b *testing.B) {
	for _, alg := range []keys.Algorithm{keys.ES256, keys.EdDSA} {
		_, _, m, _ := setup(b, alg, false)
		b.Run(string(alg)+"/reuse", func(b *testing.B) {
			id := ada()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.Mint(id, "billing", "rid"); err != nil {
					b.Fatal(err)
				}
			}
		})
		_, _, pm, _ := setup(b, alg, true)
		b.Run(string(alg)+"/fresh", func(b *testing.B) {
			id := ada()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := pm.Mint(id, "billing", "rid"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
