package login

import (
	"context"
	"errors"
	"net/http"
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

// signedInRequest logs in once and returns a request carrying the
// session cookie.
func signedInRequest(b *testing.B) (*rpEnv, *http.Request) {
	e := newRPEnv(b)
	_, cookie, err := e.login(b)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://gw.example/app", nil)
	r.AddCookie(cookie)
	return e, r
}

// BenchmarkSessionFrom is the per-request cost of a session route: open
// the cookie, load the session, check timeouts, record activity.
func BenchmarkSessionFrom(b *testing.B) {
	e, r := signedInRequest(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.m.SessionFrom(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve is BenchmarkSessionFrom plus the issuer's claim rules
// and mapping that make the request's identity.
func BenchmarkResolve(b *testing.B) {
	e, r := signedInRequest(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.m.Resolve(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzCallbackQuery: whatever the browser brings back to the callback
// with a valid state, the answer is a session or a typed refusal, never a
// panic, and a refusal's public detail is plain printable ASCII.
func FuzzCallbackQuery(f *testing.F) {
	e := newRPEnv(f)
	for _, q := range []string{"code=c", "code=garbage", "code=%ff%00", "error=access_denied", "error=%ff%22", "error=server_error",
		"code=a&code=b", "code=", "error=&code=c", "code=" + strings.Repeat("a", 5000)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		_, _, _, err := e.callback(t, func(state string) string { return query + "&state=" + state })
		if err == nil {
			return
		}
		var le *Error
		if !errors.As(err, &le) || le.Reason == "" {
			t.Fatalf("untyped error %v", err)
		}
		if !visibleASCII(le.Detail) {
			t.Fatalf("detail %q", le.Detail)
		}
	})
}
