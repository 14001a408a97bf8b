package authn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/internal/config"
)

// TestUnknownKIDFlood: 1000 tokens with random kids cost the provider at
// most two key set fetches after the first load.
func TestUnknownKIDFlood(t *testing.T) {
	testKeys(t)
	// ES256: signing 1000 tokens with RSA is slow under -race.
	p := newTestIdP(t, testKey{kid: "e1", alg: "ES256", priv: ecKey})
	set := newSet(t, issuerCfg(p))
	base := p.jwksHits.Load()
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kid := fmt.Sprintf("rnd-%d-%d", i, rand.Uint64())
			tok := sign(t, testKey{kid: kid, alg: "ES256", priv: ecKey}, claims(p))
			if _, err := set.Verify(context.Background(), tok, AllowAll); ReasonOf(err) != ReasonUnknownKID {
				t.Errorf("kid %s: %v", kid, err)
			}
		}()
	}
	wg.Wait()
	if n := p.jwksHits.Load() - base; n > 2 {
		t.Fatalf("%d key set fetches for 1000 unknown kids; want at most 2", n)
	}
}

// TestRotation: old tokens keep working while their key is published, a
// token with the new kid triggers one refetch and passes, and once the old
// key is gone its tokens (cached or not) are refused.
func TestRotation(t *testing.T) {
	testKeys(t)
	k1, k2 := rsaTestKey(0, "k1"), rsaTestKey(1, "k2")
	p := newTestIdP(t, k1)
	set := newSet(t, issuerCfg(p))
	v := set.Verifier("idp")
	old := sign(t, k1, claims(p))
	if _, err := set.Verify(context.Background(), old, AllowAll); err != nil {
		t.Fatal(err)
	}
	p.setKeys(k2, k1) // rotation: the new key first, the old one still published
	fresh := sign(t, k2, claims(p))
	if _, err := set.Verify(context.Background(), fresh, AllowAll); err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if _, err := set.Verify(context.Background(), old, AllowAll); err != nil {
		t.Fatalf("old token during the overlap: %v", err)
	}
	oldUncached := sign(t, k1, func() jwt.MapClaims { c := claims(p); c["jti"] = "2"; return c }())
	p.setKeys(k2) // the old key is retired
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"cached": old, "uncached": oldUncached} {
		if _, err := set.Verify(context.Background(), tok, AllowAll); ReasonOf(err) != ReasonUnknownKID {
			t.Errorf("%s old token after its key left: %v", name, err)
		}
	}
	if _, err := set.Verify(context.Background(), fresh, AllowAll); err != nil {
		t.Fatalf("new token: %v", err)
	}
}

// TestLastGoodKeysKept: when the provider is down, refreshes fail and the
// keys already fetched keep verifying.
func TestLastGoodKeysKept(t *testing.T) {
	testKeys(t)
	p := newTestIdP(t, rsaTestKey(0, "k1"))
	set := newSet(t, issuerCfg(p))
	p.down.Store(true)
	if err := set.Verifier("idp").Refresh(context.Background()); err == nil {
		t.Fatal("refresh of a down provider succeeded")
	}
	tok := sign(t, rsaTestKey(0, "k1"), claims(p))
	if _, err := set.Verify(context.Background(), tok, AllowAll); err != nil {
		t.Fatalf("last good keys not used: %v", err)
	}
}

func TestUnreachableAtStart(t *testing.T) {
	testKeys(t)
	p := newTestIdP(t, rsaTestKey(0, "k1"))
	p.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := NewSources(ctx, nil, nil, Hooks{})
	_, err := NewSet(ctx, config.Identity{Issuers: []config.Issuer{issuerCfg(p)}}, Options{Sources: src})
	if err == nil || !strings.Contains(err.Error(), `issuer "idp"`) || !strings.Contains(err.Error(), "fail_closed") {
		t.Fatalf("fail_start: %v", err)
	}
	set, err := NewSet(ctx, config.Identity{Issuers: []config.Issuer{issuerCfg(p, func(is *config.Issuer) {
		is.OnUnreachable = config.OnUnreachableFailClosed
	})}}, Options{Sources: src})
	if err != nil {
		t.Fatalf("fail_closed must start: %v", err)
	}
	tok := sign(t, rsaTestKey(0, "k1"), claims(p))
	if _, err := set.Verify(ctx, tok, AllowAll); ReasonOf(err) != ReasonIssuerUnavailable {
		t.Fatalf("while unreachable: %v", err)
	}
	p.down.Store(false)
	// The background loop retries within seconds.
	deadline := time.Now().Add(10 * time.Second)
	for set.Verifier("idp").Available() == false && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := set.Verify(ctx, tok, AllowAll); err != nil {
		t.Fatalf("after the provider came back: %v", err)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	testKeys(t)
	p := newTestIdP(t, rsaTestKey(0, "k1"))
	p.issuerOverride = "https://evil.example"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := NewSet(ctx, config.Identity{Issuers: []config.Issuer{issuerCfg(p)}}, Options{Sources: NewSources(ctx, nil, nil, Hooks{})})
	if err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("want an issuer mismatch error, got %v", err)
	}
}

// TestSourcesReused: a set built again with the same issuer settings shares
// the key source (no new fetch); Sweep stops sources no set uses.
func TestSourcesReused(t *testing.T) {
	testKeys(t)
	p := newTestIdP(t, rsaTestKey(0, "k1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := NewSources(ctx, nil, nil, Hooks{})
	cfg := config.Identity{Issuers: []config.Issuer{issuerCfg(p)}, TokenCacheSize: 10}
	a, err := NewSet(ctx, cfg, Options{Sources: src})
	if err != nil {
		t.Fatal(err)
	}
	hits := p.jwksHits.Load()
	b, err := NewSet(ctx, cfg, Options{Sources: src})
	if err != nil {
		t.Fatal(err)
	}
	if p.jwksHits.Load() != hits || a.Verifier("idp").src != b.Verifier("idp").src {
		t.Fatal("key source not reused")
	}
	src.Sweep(nil)
	if a.Verifier("idp").src.ctx.Err() == nil {
		t.Fatal("Sweep did not stop an unused source")
	}
}

func TestCache(t *testing.T) {
	testKeys(t)
	ek := testKey{kid: "e1", alg: "ES256", priv: ecKey}
	p := newTestIdP(t, ek)
	now := time.Now()
	clock := now
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set, err := NewSet(ctx, config.Identity{Issuers: []config.Issuer{issuerCfg(p)}, TokenCacheSize: 32, MaxTokenBytes: 16 << 10},
		Options{Sources: NewSources(ctx, nil, nil, Hooks{}), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	c := claims(p)
	c["exp"] = now.Add(2 * time.Minute).Unix()
	tok := sign(t, ek, c)
	id1, err := set.Verify(ctx, tok, AllowAll)
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := set.Verify(ctx, tok, AllowAll)
	if id1 != id2 {
		t.Fatal("second verification did not come from the cache")
	}
	// Past exp (and past the skew) the cached entry is not used: the token
	// is verified again and refused.
	clock = now.Add(4 * time.Minute)
	if _, err := set.Verify(ctx, tok, AllowAll); ReasonOf(err) != ReasonExpired {
		t.Fatalf("after exp: %v", err)
	}
	// Bounded: many tokens never grow the cache beyond its size.
	clock = now
	for i := range 200 {
		c := claims(p)
		c["jti"] = fmt.Sprint(i)
		if _, err := set.Verify(ctx, sign(t, ek, c), AllowAll); err != nil {
			t.Fatal(err)
		}
	}
	if n := set.cache.len(); n > 32 {
		t.Fatalf("cache holds %d entries; bound is 32", n)
	}
}

func TestRefreshFromHeaders(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		cc, expires, age string
		want             time.Duration
	}{
		{"", "", "", defaultRefresh},
		{"max-age=3600", "", "", time.Hour},
		{"public, max-age=600, must-revalidate", "", "", 10 * time.Minute},
		{"max-age=5", "", "", minRefresh},
		{"max-age=999999999", "", "", maxRefresh},
		{"max-age=7200", "", "3600", time.Hour},
		{"no-store", "", "", minRefresh},
		{"no-cache, max-age=600", "", "", minRefresh},
		{"max-age=abc", "", "", defaultRefresh},
		{`max-age="900"`, "", "", 15 * time.Minute},
		{"", now.Add(2 * time.Hour).Format(http.TimeFormat), "", 2 * time.Hour},
		{"", "garbage", "", minRefresh},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.cc != "" {
			h.Set("Cache-Control", tc.cc)
		}
		if tc.expires != "" {
			h.Set("Expires", tc.expires)
		}
		if tc.age != "" {
			h.Set("Age", tc.age)
		}
		if got := refreshFromHeaders(h, now); got != tc.want {
			t.Errorf("Cache-Control %q Expires %q Age %q: %v, want %v", tc.cc, tc.expires, tc.age, got, tc.want)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	testKeys(t)
	good := mustJSON(map[string]any{"keys": []any{rsaTestKey(0, "k1").jwk()}})
	cases := []struct {
		name   string
		data   string
		usable int
		err    bool
	}{
		{"one RSA key", good, 1, false},
		{"not JSON", "{", 0, true},
		{"duplicate member", `{"keys":[],"keys":[]}`, 0, true},
		{"no keys", `{"keys":[]}`, 0, true},
		{"symmetric key skipped", `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, 0, true},
		{"encryption key skipped", strings.Replace(good, `"use":"sig"`, `"use":"enc"`, 1), 0, true},
		{"unparseable key skipped", `{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"},` + good[9:len(good)-2] + `]}`, 1, false},
		{"too many keys", `{"keys":[` + strings.Repeat(`{"kty":"x"},`, maxJWKSKeys) + `{"kty":"x"}]}`, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseJWKS([]byte(tc.data))
			if (err != nil) != tc.err || n != tc.usable {
				t.Fatalf("usable %d err %v; want %d, error %v", n, err, tc.usable, tc.err)
			}
		})
	}
}
