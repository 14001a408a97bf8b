package authn

import (
	"context"
	"fmt"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerifyCacheHit is a token seen before: a hash and a lookup.
func BenchmarkVerifyCacheHit(b *testing.B) {
	testKeys(b)
	k := rsaTestKey(0, "k1")
	p := newTestIdP(b, k)
	set := newSet(b, issuerCfg(p))
	tok := sign(b, k, claims(p))
	ctx := context.Background()
	if _, err := set.Verify(ctx, tok, AllowAll); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := set.Verify(ctx, tok, AllowAll); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMiss(b *testing.B, k testKey) {
	testKeys(b)
	p := newTestIdP(b, k)
	set := newSet(b, issuerCfg(p))
	set.cache = nil // every verification is a miss
	c := claims(p)
	c["roles"] = []string{"a", "b", "c"}
	tok := sign(b, k, c)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := set.Verify(ctx, tok, AllowAll); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyMissRS256 and BenchmarkVerifyMissES256 are first sightings
// of a token: full parse, signature and claim checks.
func BenchmarkVerifyMissRS256(b *testing.B) { testKeys(b); benchMiss(b, rsaTestKey(0, "k1")) }
func BenchmarkVerifyMissES256(b *testing.B) {
	testKeys(b)
	benchMiss(b, testKey{kid: "e1", alg: "ES256", priv: ecKey})
}

// BenchmarkLibraryRS256 and BenchmarkLibraryES256 are golang-jwt alone
// (parse, verify, MapClaims) on the same tokens: the baseline the miss
// path is compared with.
func BenchmarkLibraryRS256(b *testing.B) { testKeys(b); benchLibrary(b, rsaTestKey(0, "k1")) }
func BenchmarkLibraryES256(b *testing.B) {
	testKeys(b)
	benchLibrary(b, testKey{kid: "e1", alg: "ES256", priv: ecKey})
}

func benchLibrary(b *testing.B, k testKey) {
	p := newTestIdP(b, k)
	c := claims(p)
	c["roles"] = []string{"a", "b", "c"}
	tok := sign(b, k, c)
	pub := k.priv.Public()
	parser := jwt.NewParser(jwt.WithValidMethods([]string{k.alg}), jwt.WithIssuer(p.issuer()), jwt.WithAudience("api://edgegate"), jwt.WithExpirationRequired())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := parser.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCacheHitParallel measures contention on the cache.
func BenchmarkVerifyCacheHitParallel(b *testing.B) {
	testKeys(b)
	k := rsaTestKey(0, "k1")
	p := newTestIdP(b, k)
	set := newSet(b, issuerCfg(p))
	toks := make([]string, 64)
	for i := range toks {
		c := claims(p)
		c["jti"] = fmt.Sprint(i)
		toks[i] = sign(b, k, c)
		if _, err := set.Verify(context.Background(), toks[i], AllowAll); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := set.Verify(context.Background(), toks[i%len(toks)], AllowAll); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
