package login

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/edgegate/edgegate/internal/session"
)

// fakeOP is an OpenID provider under the test's control: it signs whatever
// header and claims a case asks for (the OpenID Foundation RP negative
// cases need broken responses that certified providers never emit).
type fakeOP struct {
	srv *httptest.Server
	mu  sync.Mutex
	// keys are published in the JWKS; signer signs ID tokens.
	keys     []jose.JSONWebKey
	signer   *rsa.PrivateKey
	kid      string // "" leaves kid out of the header
	alg      jose.SignatureAlgorithm
	claims   func(c map[string]any) // edits the default claims
	userinfo func(c map[string]any)
	raw      string // when set, the ID token returned verbatim
	nonce    string
	issuer   string // discovery "issuer" override
	refresh  int
	// jwksHits counts key set fetches; tokenHits token endpoint requests.
	jwksHits, tokenHits int
}

// Codes the fake token endpoint refuses as a real provider would: an
// unknown code (400 invalid_grant) and a provider in trouble (500).
const (
	codeUnknown = "garbage"
	codeBoom    = "boom"
)

// testKeys are made once: RSA generation dominates the run time otherwise.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	out := make([]*rsa.PrivateKey, 3)
	for i := range out {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[i] = k
	}
	return out
})

// newRSAKey returns a test key other than the fake provider's default one.
func newRSAKey(testing.TB) *rsa.PrivateKey { return testKeys()[1] }

func newFakeOP(t testing.TB) *fakeOP {
	op := &fakeOP{alg: jose.RS256}
	k := testKeys()[0]
	op.signer, op.kid = k, "k1"
	op.keys = []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}
	mux := http.NewServeMux()
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		iss := op.issuer
		op.mu.Unlock()
		if iss == "" {
			iss = op.srv.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss, "authorization_endpoint": op.srv.URL + "/auth", "token_endpoint": op.srv.URL + "/token",
			"userinfo_endpoint": op.srv.URL + "/userinfo", "jwks_uri": op.srv.URL + "/jwks", "end_session_endpoint": op.srv.URL + "/end",
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		op.jwksHits++
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: op.keys})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "client" || p != "secret" {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = r.ParseForm()
		op.mu.Lock()
		op.tokenHits++
		op.mu.Unlock()
		switch r.Form.Get("code") {
		case codeUnknown:
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"grant request is invalid"}`))
			return
		case codeBoom:
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`<html>oops</html>`))
			return
		}
		if r.Form.Get("grant_type") == "authorization_code" && r.Form.Get("code_verifier") == "" {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		op.mu.Lock()
		if r.Form.Get("grant_type") == "refresh_token" {
			op.refresh++
		}
		op.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": "at-" + r.Form.Get("grant_type"), "token_type": "Bearer", "expires_in": 300,
			"refresh_token": "rt", "id_token": op.idToken(t, r.Form.Get("grant_type") == "authorization_code"),
		})
	})
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		c := map[string]any{"sub": "alice", "groups": []string{"dev"}}
		op.mu.Lock()
		if op.userinfo != nil {
			op.userinfo(c)
		}
		op.mu.Unlock()
		_ = json.NewEncoder(w).Encode(c)
	})
	return op
}

func (op *fakeOP) idToken(t testing.TB, withNonce bool) string {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.raw != "" {
		return op.raw
	}
	now := time.Now()
	c := map[string]any{"iss": op.srv.URL, "sub": "alice", "aud": "client", "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "email": "alice@example.com"}
	if withNonce {
		c["nonce"] = op.nonce
	}
	if op.claims != nil {
		op.claims(c)
	}
	return signJWT(t, op.alg, op.signer, op.kid, c)
}

func signJWT(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type rpEnv struct {
	op    *fakeOP
	m     *Manager
	store *session.MemoryStore
	ring  *session.EphemeralKeyRing
	now   time.Time
	mu    sync.Mutex
}

func (e *rpEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *rpEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func newRPEnv(t testing.TB) *rpEnv { return newRPEnvWith(t, nil) }

// newRPEnvWith lets setup change the provider before discovery.
func newRPEnvWith(t testing.TB, setup func(op *fakeOP)) *rpEnv {
	op := newFakeOP(t)
	if setup != nil {
		setup(op)
	}
	p, err := Discover(context.Background(), nil, op.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := &rpEnv{op: op, store: session.NewMemoryStore(100, nil), ring: session.NewEphemeralKeyRing(), now: time.Now()}
	e.m = NewManager(Config{
		Provider: p, IssuerName: "fake", ClientID: "client", ClientSecret: "secret", Scopes: []string{"openid", "email"},
		CookieName: "__Host-eg", IdleTimeout: time.Hour, AbsoluteTimeout: 12 * time.Hour, RefreshBefore: time.Minute,
		Store: e.store, Sealer: &session.Sealer{Ring: e.ring},
	})
	// The provider keeps the real clock for token checks; the manager's
	// clock only drives session timeouts.
	e.m.now = e.clock
	return e
}

var testOrigin = Origin{Scheme: "https", Host: "gw.example"}

// login runs StartLogin and Callback and returns the callback's result
// and the session cookie.
func (e *rpEnv) login(t testing.TB) (*session.Session, *http.Cookie, error) {
	t.Helper()
	s, _, cookie, err := e.callback(t, func(state string) string { return "code=c&state=" + url.QueryEscape(state) })
	return s, cookie, err
}

// begin runs StartLogin and returns the login state cookie and the state
// sent to the provider (whose nonce it records).
func (e *rpEnv) begin(t testing.TB) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := e.m.StartLogin(rec, httptest.NewRequest("GET", "https://gw.example/.edgegate/login?rd=/app", nil), testOrigin, "/app"); err != nil {
		t.Fatal(err)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request lacks PKCE, nonce or state: %s", loc)
	}
	if q.Get("redirect_uri") != "https://gw.example/.edgegate/callback" {
		t.Fatalf("redirect_uri %q", q.Get("redirect_uri"))
	}
	e.op.mu.Lock()
	e.op.nonce = q.Get("nonce")
	e.op.mu.Unlock()
	for _, c := range rec.Result().Cookies() {
		if c.Name == "__Host-eg-login" {
			return c, q.Get("state")
		}
	}
	t.Fatal("no login state cookie")
	return nil, ""
}

// callback starts a login and comes back to the callback with the query
// made by query from the state, as the provider would send the browser.
func (e *rpEnv) callback(t testing.TB, query func(state string) string) (*session.Session, *httptest.ResponseRecorder, *http.Cookie, error) {
	t.Helper()
	state, sv := e.begin(t)
	req := httptest.NewRequest("GET", "https://gw.example/.edgegate/callback", nil)
	// Set, not parsed: the fuzz test sends what a request line could not.
	req.URL.RawQuery = query(sv)
	req.AddCookie(state)
	rec := httptest.NewRecorder()
	s, _, err := e.m.Callback(rec, req, testOrigin)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "__Host-eg" && c.Value != "" {
			return s, rec, c, err
		}
	}
	return s, rec, nil, err
}

func (e *rpEnv) request(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "https://gw.example/app", nil)
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

// TestRPChecks covers the OpenID Foundation RP test plan's ID token and
// userinfo cases: each broken response is rejected with its reason.
func TestRPChecks(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := []struct {
		name  string
		setup func(t *testing.T, op *fakeOP)
		want  Reason // "" = accepted
	}{
		{"valid", func(*testing.T, *fakeOP) {}, ""},
		{"wrong issuer", func(_ *testing.T, op *fakeOP) {
			op.claims = func(c map[string]any) { c["iss"] = "https://evil.example" }
		}, ReasonWrongIssuer},
		{"missing sub", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { delete(c, "sub") } }, ReasonMissingClaim},
		{"empty sub", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { c["sub"] = "" } }, ReasonMissingClaim},
		{"missing iat", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { delete(c, "iat") } }, ReasonMissingClaim},
		{"missing exp", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { delete(c, "exp") } }, ReasonMissingClaim},
		{"wrong aud", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { c["aud"] = "other" } }, ReasonWrongAudience},
		{"several aud without azp", func(_ *testing.T, op *fakeOP) {
			op.claims = func(c map[string]any) { c["aud"] = []string{"client", "other"} }
		}, ReasonWrongAZP},
		{"several aud with azp", func(_ *testing.T, op *fakeOP) {
			op.claims = func(c map[string]any) { c["aud"] = []string{"client", "other"}; c["azp"] = "client" }
		}, ""},
		{"wrong azp", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { c["azp"] = "other" } }, ReasonWrongAZP},
		{"expired", func(_ *testing.T, op *fakeOP) {
			op.claims = func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }
		}, ReasonExpired},
		{"iat in future", func(_ *testing.T, op *fakeOP) {
			op.claims = func(c map[string]any) { c["iat"] = time.Now().Add(5 * time.Minute).Unix() }
		}, ReasonIssuedInFuture},
		{"wrong nonce", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { c["nonce"] = "not-it" } }, ReasonNonceMismatch},
		{"missing nonce", func(_ *testing.T, op *fakeOP) { op.claims = func(c map[string]any) { delete(c, "nonce") } }, ReasonNonceMismatch},
		{"bad signature", func(t *testing.T, op *fakeOP) { op.signer = newRSAKey(t) }, ReasonBadSignature},
		{"unknown kid", func(_ *testing.T, op *fakeOP) { op.kid = "nope" }, ReasonUnknownKID},
		{"kid path traversal", func(_ *testing.T, op *fakeOP) { op.kid = "../../etc/passwd" }, ReasonUnknownKID},
		{"kid absent single key", func(_ *testing.T, op *fakeOP) { op.kid = "" }, ""},
		{"kid absent several keys", func(t *testing.T, op *fakeOP) {
			op.kid = ""
			k2 := newRSAKey(t)
			op.keys = append(op.keys, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"})
		}, ReasonAmbiguousKey},
		{"key type does not fit alg", func(t *testing.T, op *fakeOP) {
			op.alg, op.kid = jose.ES256, "k1"
			_ = ec
			op.signer = nil
			op.raw = signJWT(t, jose.ES256, ec, "k1", map[string]any{"iss": op.srv.URL, "sub": "alice", "aud": "client", "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()})
		}, ReasonAlgNotAllowed},
		{"alg none", func(_ *testing.T, op *fakeOP) {
			op.raw = b64(`{"alg":"none","kid":"k1"}`) + "." + b64(`{"iss":"x","sub":"alice","aud":"client"}`) + "."
		}, ReasonAlgNotAllowed},
		{"alg NoNe", func(_ *testing.T, op *fakeOP) {
			op.raw = b64(`{"alg":"NoNe","kid":"k1"}`) + "." + b64(`{"iss":"x","sub":"alice","aud":"client"}`) + "."
		}, ReasonAlgNotAllowed},
		{"HS256 with the public key", func(t *testing.T, op *fakeOP) {
			pub, _ := json.Marshal(jose.JSONWebKey{Key: &op.signer.PublicKey})
			op.raw = signJWT(t, jose.HS256, pub, "k1", map[string]any{"iss": op.srv.URL, "sub": "alice", "aud": "client"})
		}, ReasonAlgNotAllowed},
		{"signature stripped", func(t *testing.T, op *fakeOP) {
			tok := signJWT(t, jose.RS256, op.signer, "k1", map[string]any{"iss": op.srv.URL, "sub": "alice", "aud": "client", "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()})
			op.raw = tok[:strings.LastIndex(tok, ".")+1]
		}, ReasonBadSignature},
		{"payload tampered", func(t *testing.T, op *fakeOP) {
			tok := signJWT(t, jose.RS256, op.signer, "k1", map[string]any{"iss": op.srv.URL, "sub": "alice", "aud": "client", "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()})
			parts := strings.Split(tok, ".")
			parts[1] = b64(`{"iss":"` + op.srv.URL + `","sub":"admin","aud":"client"}`)
			op.raw = strings.Join(parts, ".")
		}, ReasonBadSignature},
		{"userinfo sub mismatch", func(_ *testing.T, op *fakeOP) { op.userinfo = func(c map[string]any) { c["sub"] = "mallory" } }, ReasonSubjectMismatch},
		{"garbage id token", func(_ *testing.T, op *fakeOP) { op.raw = "garbage" }, ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newRPEnvWith(t, func(op *fakeOP) { c.setup(t, op) })
			s, cookie, err := e.login(t)
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if cookie == nil || s == nil {
					t.Fatal("no session after a valid login")
				}
				got, err := e.m.SessionFrom(context.Background(), e.request(cookie))
				if err != nil || got.ID != s.ID {
					t.Fatalf("session not found from its cookie: %v", err)
				}
				if id, err := e.m.Identity(got); err != nil || id.Subject != "alice" || id.Email != "alice@example.com" || len(id.Groups) != 1 {
					t.Errorf("identity %+v (%v)", id, err)
				}
				return
			}
			if got := ReasonOf(err); got != c.want {
				t.Fatalf("reason %q (%v), want %q", got, err, c.want)
			}
			if cookie != nil {
				t.Errorf("a session cookie was set on a rejected login")
			}
			if e.store.Len() != 0 {
				t.Errorf("a session was stored on a rejected login")
			}
			if strings.Contains(err.Error(), "at-authorization_code") || strings.Contains(err.Error(), "eyJ") {
				t.Errorf("error reveals a token: %v", err)
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDiscoveryIssuerMismatch(t *testing.T) {
	op := newFakeOP(t)
	op.issuer = "https://evil.example"
	if _, err := Discover(context.Background(), nil, op.srv.URL); err == nil || !strings.Contains(err.Error(), "must be identical") {
		t.Fatalf("discovery with a mismatched issuer: %v", err)
	}
	if _, err := Discover(context.Background(), nil, "http://127.0.0.1:1"); err == nil {
		t.Fatal("unreachable discovery URL accepted")
	}
}

// TestRefresh covers refresh before expiry, keys rotated mid-session (the
// new kid is fetched), one refresh at a time, a refreshed token naming
// another subject, and the idle and absolute timeouts.
func TestRefresh(t *testing.T) {
	e := newRPEnv(t)
	_, cookie, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	// Rotate the provider's keys: the old key is gone, the refresh's ID
	// token is signed by a new kid the RP has not seen.
	k2 := testKeys()[2]
	e.op.mu.Lock()
	e.op.signer, e.op.kid = k2, "k2"
	e.op.keys = []jose.JSONWebKey{{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"}}
	e.op.mu.Unlock()
	e.advance(4*time.Minute + 30*time.Second) // token (300s) due within refresh_before (1m)

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.m.SessionFrom(context.Background(), e.request(cookie))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("refresh after key rotation: %v", err)
		}
	}
	if e.op.refresh != 1 {
		t.Errorf("%d refresh requests for one session, want 1", e.op.refresh)
	}
	s, err := e.m.SessionFrom(context.Background(), e.request(cookie))
	if err != nil || s.Refreshed != 1 || s.AccessToken != "at-refresh_token" {
		t.Fatalf("after refresh: %v %+v", err, s)
	}

	// A refresh whose ID token names someone else ends the session.
	e.op.mu.Lock()
	e.op.claims = func(c map[string]any) { c["sub"] = "mallory" }
	e.op.mu.Unlock()
	e.advance(4*time.Minute + 30*time.Second)
	if _, err := e.m.SessionFrom(context.Background(), e.request(cookie)); ReasonOf(err) != ReasonSubjectMismatch {
		t.Fatalf("refresh with another sub: %v", err)
	}
	if _, err := e.m.SessionFrom(context.Background(), e.request(cookie)); ReasonOf(err) != ReasonSessionExpired {
		t.Fatalf("session after a failed refresh: %v", err)
	}

	t.Run("idle timeout", func(t *testing.T) {
		e := newRPEnv(t)
		_, cookie, err := e.login(t)
		if err != nil {
			t.Fatal(err)
		}
		e.m.c.RefreshBefore = 0
		e.op.mu.Lock()
		e.op.claims = func(c map[string]any) { c["exp"] = time.Now().Add(24 * time.Hour).Unix() }
		e.op.mu.Unlock()
		e.advance(61 * time.Minute)
		if _, err := e.m.SessionFrom(context.Background(), e.request(cookie)); ReasonOf(err) != ReasonIdleTimeout && ReasonOf(err) != ReasonSessionExpired {
			t.Fatalf("after the idle timeout: %v", err)
		}
	})
	t.Run("absolute timeout", func(t *testing.T) {
		e := newRPEnv(t)
		e.m.c.RefreshBefore = 0
		e.m.c.AbsoluteTimeout = 2 * time.Hour
		_, cookie, err := e.login(t)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 { // keep it active, under the idle timeout
			e.advance(50 * time.Minute)
			_, err = e.m.SessionFrom(context.Background(), e.request(cookie))
		}
		if r := ReasonOf(err); r != ReasonSessionExpired {
			t.Fatalf("after the absolute timeout: %v", err)
		}
	})
}

func TestCallbackState(t *testing.T) {
	e := newRPEnv(t)
	rec := httptest.NewRecorder()
	_ = e.m.StartLogin(rec, httptest.NewRequest("GET", "/", nil), testOrigin, "")
	var state *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "__Host-eg-login" {
			state = c
		}
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
			t.Errorf("cookie %s attributes: %+v", c.Name, c)
		}
	}
	cases := []struct {
		name, query string
		cookie      *http.Cookie
		want        Reason
	}{
		{"no cookie", "?code=c&state=x", nil, ReasonBadState},
		{"wrong state", "?code=c&state=x", state, ReasonBadState},
		{"forged cookie", "?code=c&state=x", &http.Cookie{Name: "__Host-eg-login", Value: state.Value[:len(state.Value)-4] + "AAAA"}, ReasonBadState},
		{"garbage cookie", "?code=c&state=x", &http.Cookie{Name: "__Host-eg-login", Value: "%%%"}, ReasonBadState},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/.edgegate/callback"+c.query, nil)
			if c.cookie != nil {
				req.AddCookie(c.cookie)
			}
			if _, _, err := e.m.Callback(httptest.NewRecorder(), req, testOrigin); ReasonOf(err) != c.want {
				t.Fatalf("reason %q (%v), want %q", ReasonOf(err), err, c.want)
			}
		})
	}
	t.Run("state expired", func(t *testing.T) {
		e.advance(11 * time.Minute)
		req := httptest.NewRequest("GET", "/.edgegate/callback?code=c&state=x", nil)
		req.AddCookie(state)
		if _, _, err := e.m.Callback(httptest.NewRecorder(), req, testOrigin); ReasonOf(err) != ReasonStateExpired {
			t.Fatalf("reason %q, want state_expired", ReasonOf(err))
		}
	})
}

func TestLogout(t *testing.T) {
	e := newRPEnv(t)
	_, cookie, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.m.c.PostLogoutRedirect = "/bye"
	if _, wrote := e.m.Logout(rec, e.request(cookie), testOrigin, false); !wrote {
		t.Fatal("logout wrote nothing")
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if !strings.HasPrefix(loc.String(), e.op.srv.URL+"/end?") || loc.Query().Get("id_token_hint") == "" ||
		loc.Query().Get("post_logout_redirect_uri") != "https://gw.example/bye" {
		t.Errorf("RP-initiated logout to %s", loc)
	}
	if _, err := e.m.SessionFrom(context.Background(), e.request(cookie)); ReasonOf(err) != ReasonSessionExpired {
		t.Errorf("session survives logout: %v", err)
	}
}
