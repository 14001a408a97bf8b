package login

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyIDToken: any input is rejected with a typed reason (never a
// panic), unless it is a token the provider really signed.
func FuzzVerifyIDToken(f *testing.F) {
	e := newRPEnv(f)
	good := signJWT(f, "RS256", testKeys()[0], "k1", map[string]any{"iss": e.op.srv.URL, "sub": "alice", "aud": "client", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
	for _, s := range []string{good, "", "a.b.c", good + "x", strings.Replace(good, ".", "..", 1), b64(`{"alg":"none"}`) + ".e30."} {
		f.Add(s)
	}
	p := e.m.c.Provider
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := p.VerifyIDToken(context.Background(), raw, "client", "")
		if err == nil {
			if raw != good || c.String("sub") != "alice" {
				t.Fatalf("accepted %q", raw)
			}
			return
		}
		var le *Error
		if !errors.As(err, &le) || le.Reason == "" {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// BenchmarkSessionFrom is the per-request cost of a session route: open
// the cookie, load the session, check timeouts, record activity.
func BenchmarkSessionFrom(b *testing.B) {
	e := newRPEnv(b)
	_, cookie, err := e.login(b)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://gw.example/app", nil)
	r.AddCookie(cookie)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.m.SessionFrom(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
