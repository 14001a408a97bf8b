package authn

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary tokens to the verifier: it must refuse them
// with a typed reason (never panic, never accept a token it did not sign).
func FuzzVerify(f *testing.F) {
	testKeys(f)
	k := rsaTestKey(0, "k1")
	p := newTestIdP(f, k, rsaTestKey(1, "k2"))
	set := newSet(f, issuerCfg(p))
	good := sign(f, k, claims(p))
	parts := strings.Split(good, ".")
	for _, s := range []string{good, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".", parts[0] + ".e30.",
		"eyJhbGciOiJub25lIn0.e30.", strings.Repeat("A", 100) + ".." + strings.Repeat("B", 10)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := set.Verify(context.Background(), tok, AllowAll)
		if err == nil {
			if tok != good {
				t.Fatalf("accepted a token that was never issued: %q (%+v)", tok, id)
			}
			return
		}
		if ReasonOf(err) == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzParseJWKS: the key set parser never panics and never returns a set
// with private or symmetric keys.
func FuzzParseJWKS(f *testing.F) {
	testKeys(f)
	good, _ := json.Marshal(map[string]any{"keys": []any{rsaTestKey(0, "k1").jwk(), testKey{kid: "e", alg: "ES256", priv: ecKey}.jwk()}})
	for _, s := range []string{string(good), `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"AAAA"}]}`, `{"keys":null}`, `[]`, `{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := parseJWKS(data)
		if err != nil {
			return
		}
		for _, k := range ks.keys {
			if k.defaultAlg() == "" || !k.matches(k.defaultAlg()) {
				t.Fatalf("unusable key kept: %+v", k)
			}
		}
	})
}

// FuzzCheckJSON: the strict JSON check agrees with encoding/json on what
// is valid, except that it also refuses duplicates, deep nesting and
// invalid UTF-8.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":"\u0061","\u0061":1}`, `[1,2,{"x":[true,false,null]}]`, `"x"`, `-0.5e+3`, `{"a":}`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkJSON(data)
		if err == nil && !json.Valid(data) {
			t.Fatalf("checkJSON accepted invalid JSON %q", data)
		}
	})
}

// FuzzMaxAge: the Cache-Control parser never panics and stays in bounds.
func FuzzMaxAge(f *testing.F) {
	for _, s := range []string{"max-age=60", "no-store", "public, max-age=\"10\"", "max-age=-1", "max-age=99999999999999999999", ",,=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Cache-Control": []string{v}}
		d := refreshFromHeaders(h, time.Now())
		if d < minRefresh || d > maxRefresh {
			t.Fatalf("refresh %v out of bounds for %q", d, v)
		}
	})
}
