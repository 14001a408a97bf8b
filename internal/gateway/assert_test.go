package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/keys"
	"github.com/edgegate/edgegate/internal/originproxy"
	"github.com/edgegate/edgegate/pkg/verifier"
)

const testIdPSecret = "a test identity provider secret of 40+ bytes!!"

// idpConfig is an identity section trusting HS256 tokens signed with
// testIdPSecret (written to dir), and the routes: /api needs a bearer
// token, /public is open.
func assertConfig(t *testing.T, originURL, extra string) string {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "idp-secret")
	if err := os.WriteFile(secret, []byte(testIdPSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
timeouts: {shutdown: 5s}
identity:
  issuers:
    - name: test
      issuer: https://idp.test
      hmac_secret_file: %s
      audiences: [edge]
      algorithms: [HS256]
pools:
  - name: app
    members: [%s]
routes:
  - name: api
    match: {path_prefix: /api}
    pool: app
    auth: {mode: bearer, issuers: [test]}
    allow: ['true']
  - name: public
    match: {path_prefix: /public}
    pool: app
%s`, secret, originURL, extra)
}

// idpToken mints an HS256 token from the test identity provider.
func idpToken(sub, email string, groups ...string) string {
	now := time.Now()
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	in := enc(map[string]any{"alg": "HS256", "typ": "JWT"}) + "." + enc(map[string]any{"iss": "https://idp.test", "aud": "edge",
		"sub": sub, "email": email, "groups": groups, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	m := hmac.New(sha256.New, []byte(testIdPSecret))
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifyingOrigin is an origin behind pkg/verifier's middleware that
// answers with the identity and every assertion header it received.
type verifyingOrigin struct {
	*httptest.Server
	hits    atomic.Int64
	mu      sync.Mutex
	kids    map[string]bool
	lastTok string
	headers []http.Header
}

// armedVerifier is the verifier of a verifyingOrigin and the header it
// reads, swapped in together once the gateway's JWKS is up.
type armedVerifier struct {
	v      *verifier.Verifier
	header string
}

// originAnswer is what a verifyingOrigin answers with.
type originAnswer struct {
	Sub        string   `json:"sub"`
	Email      string   `json:"email"`
	Aud        string   `json:"aud"`
	Rid        string   `json:"rid"`
	Assertions int      `json:"assertions"`
	FwdUser    []string `json:"fwd_user"`
	FwdGroups  string   `json:"fwd_groups"`
}

func newVerifyingOrigin(t *testing.T, mod func(*verifier.Options)) (*verifyingOrigin, func(jwksURL string)) {
	o := &verifyingOrigin{kids: map[string]bool{}}
	var armed atomic.Pointer[armedVerifier]
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.headers = append(o.headers, r.Header.Clone())
		o.mu.Unlock()
		a := armed.Load()
		a.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.hits.Add(1)
			tok := r.Header.Get(a.header)
			hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var h struct{ Kid string }
			json.Unmarshal(hb, &h)
			o.mu.Lock()
			o.kids[h.Kid] = true
			o.lastTok = tok
			o.mu.Unlock()
			id, _ := verifier.FromContext(r.Context())
			json.NewEncoder(w).Encode(originAnswer{Sub: id.Subject, Email: id.Email, Aud: id.Audience, Rid: id.RequestID,
				Assertions: len(r.Header.Values(a.header)), FwdUser: r.Header.Values("X-Forwarded-User"),
				FwdGroups: r.Header.Get("X-Forwarded-Groups")})
		})).ServeHTTP(w, r)
	}))
	t.Cleanup(o.Close)
	return o, func(jwksURL string) {
		opts := verifier.Options{JWKSURL: jwksURL, Issuer: "https://edge.test", Audience: "app", MinRefetchInterval: 20 * time.Millisecond}
		if mod != nil {
			mod(&opts)
		}
		vv, err := verifier.New(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		header := opts.Header
		if header == "" {
			header = verifier.DefaultHeader
		}
		armed.Store(&armedVerifier{v: vv, header: header})
	}
}

// dotted spells a header name with '.' for '-', as a client trying to slip
// past a plain delete would (Caddy GHSA-f59h-q822-g45g).
func dotted(name string) string { return strings.ReplaceAll(name, "-", ".") }

// TestAssertionReachesVerifyingOrigin sends requests through the gateway
// to an origin behind pkg/verifier, with the default assertion settings and
// with every one changed: a custom header, an explicit route audience, and
// one assertion per request carrying the request ID.
func TestAssertionReachesVerifyingOrigin(t *testing.T) {
	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	settings := []struct {
		name string
		// assertion is the assertion section; route is added to the api
		// route.
		assertion, route string
		header, audience string
		perRequest       bool
	}{
		{name: "defaults", assertion: `{issuer: "https://edge.test", forward_identity_headers: true}`,
			header: "Edgegate-Assertion", audience: "app"},
		{name: "custom header, audience and request ID claim",
			assertion: `{issuer: "https://edge.test", forward_identity_headers: true, header: X-My-Assertion, request_id_claim: true}`,
			route:     "    assertion: {audience: billing-api}\n",
			header:    "X-My-Assertion", audience: "billing-api", perRequest: true},
	}
	for _, set := range settings {
		t.Run(set.name, func(t *testing.T) {
			origin, arm := newVerifyingOrigin(t, func(o *verifier.Options) { o.Header, o.Audience = set.header, set.audience })
			src := assertConfig(t, origin.URL, "assertion: "+set.assertion+"\n")
			src = strings.Replace(src, "    auth: {mode: bearer, issuers: [test]}\n", "    auth: {mode: bearer, issuers: [test]}\n"+set.route, 1)
			tg := startGatewayWith(t, src, nil)
			arm(tg.url(jwksPath))
			tok := idpToken("u-1", "ada@example.com", "eng", "ops")

			cases := []struct {
				name    string
				path    string
				bearer  bool
				forge   map[string]string
				status  int
				wantSub string
			}{
				{"authenticated", "/api/x", true, nil, 200, "u-1"},
				{"client copies removed", "/api/x", true, map[string]string{set.header: forged, strings.ToLower(set.header): forged,
					dotted(set.header): forged, "Edgegate-Assertion": forged, "X-Forwarded-User": "root", "X.Forwarded.User": "root"}, 200, "u-1"},
				{"public route: no assertion, forged one dropped", "/public/x", false, map[string]string{set.header: forged, dotted(set.header): forged}, 401, ""},
				{"no token", "/api/x", false, map[string]string{set.header: forged}, 401, ""},
			}
			var rids []string
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					origin.mu.Lock()
					before := len(origin.headers)
					origin.mu.Unlock()
					req, _ := http.NewRequest("GET", tg.url(tc.path), nil)
					if tc.bearer {
						req.Header.Set("Authorization", "Bearer "+tok)
					}
					for k, v := range tc.forge {
						req.Header[k] = append(req.Header[k], v)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.status {
						t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.status)
					}
					origin.mu.Lock()
					seen := origin.headers[before:]
					origin.mu.Unlock()
					for _, h := range seen {
						for k, vv := range h {
							for _, v := range vv {
								if v == forged || (hygiene.SameHeaderName(k, "X-Forwarded-User") && v == "root") {
									t.Fatalf("the origin received the client's %s", k)
								}
							}
						}
						if h.Get("Authorization") != "" {
							t.Error("the caller's bearer token reached the origin")
						}
					}
					if tc.status != 200 {
						if len(seen) > 0 && len(seen[0].Values(set.header)) != 0 {
							t.Fatal("an assertion reached the origin for an unauthenticated request")
						}
						return
					}
					var a originAnswer
					if err := json.Unmarshal(body, &a); err != nil {
						t.Fatal(err)
					}
					if a.Sub != tc.wantSub || a.Email != "ada@example.com" || a.Assertions != 1 || len(a.FwdUser) != 1 || a.FwdUser[0] != "u-1" || a.FwdGroups != "eng,ops" {
						t.Fatalf("origin saw %+v", a)
					}
					if a.Aud != set.audience {
						t.Errorf("audience %q, want %q", a.Aud, set.audience)
					}
					switch rid := resp.Header.Get(RequestIDHeader); {
					case !set.perRequest && a.Rid != "":
						t.Errorf("rid %q in a reusable assertion", a.Rid)
					case set.perRequest && (rid == "" || a.Rid != rid):
						t.Errorf("rid claim %q, want the response's X-Request-Id %q", a.Rid, rid)
					}
					rids = append(rids, a.Rid)
				})
			}
			// The same caller gets the same (reused) assertion, unless
			// each request is signed for its request ID.
			first := origin.lastTok
			req, _ := http.NewRequest("GET", tg.url("/api/y"), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			m := tg.g.Metrics().Keys.Assertions
			if set.perRequest {
				if origin.lastTok == first || len(rids) != 2 || rids[0] == rids[1] {
					t.Errorf("per-request assertions: same token again, or rids %q", rids)
				}
				if got := testCounter(t, m.WithLabelValues("reused")); got != 0 {
					t.Errorf("reused counter = %v with request_id_claim", got)
				}
				return
			}
			if origin.lastTok != first {
				t.Error("assertion not reused for the same caller")
			}
			if got := testCounter(t, m.WithLabelValues("reused")); got < 1 {
				t.Errorf("reused counter = %v", got)
			}
		})
	}
}

// TestAssertionHeaderStrippedBeforeStages: a client's copy of a custom
// assertion header, in any spelling, is gone before policy and scripts run
// (hygiene), and what a script adds under that name never reaches the
// origin beside the gateway's own assertion.
func TestAssertionHeaderStrippedBeforeStages(t *testing.T) {
	origin := newEchoOrigin(t, "app")
	bundle := filepath.Join(t.TempDir(), "saw")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bundle, "bundle.json"), []byte(`{"edgeworker-version":"1"}`), 0o644)
	os.WriteFile(filepath.Join(bundle, "main.js"), []byte(`
export function onClientRequest(r) {
  const names = Object.keys(r.getHeaders()).filter(k => k.replace(/[._]/g, '-') === 'x-my-assertion');
  r.setHeader('X-Script-Saw', names.length ? names.join(',') : 'none');
  r.setHeader('X.My.Assertion', 'from-script');
}`), 0o644)
	src := assertConfig(t, origin.URL, fmt.Sprintf("assertion: {header: X-My-Assertion}\nscripts: {bundles: [{name: saw, path: %q}]}\n", bundle))
	src = strings.Replace(src, "    auth: {mode: bearer, issuers: [test]}\n", `    auth: {mode: bearer, issuers: [test]}
    script: {bundle: saw}
    deny:
      - name: client-assertion
        expr: '"x-my-assertion" in request.headers || "x.my.assertion" in request.headers'
`, 1)
	tg := startGateway(t, src)
	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	for _, spelling := range []string{"X-My-Assertion", "x-my-assertion", "X.My.Assertion", "x.MY.assertion"} {
		t.Run(spelling, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tg.url("/api/x"), nil)
			req.Header.Set("Authorization", "Bearer "+idpToken("u-1", "ada@example.com"))
			req.Header[spelling] = []string{forged}
			resp, e := getEcho(t, http.DefaultClient, req)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: the policy saw the client's %s", resp.StatusCode, spelling)
			}
			if saw := e.Header.Get("X-Script-Saw"); saw != "none" {
				t.Errorf("the script saw %q", saw)
			}
			var got []string
			for k, vv := range e.Header {
				if hygiene.SameHeaderName(k, "X-My-Assertion") {
					got = append(got, k)
					if len(vv) != 1 || vv[0] == forged || vv[0] == "from-script" || strings.Count(vv[0], ".") != 2 {
						t.Errorf("origin got %s: %q", k, vv)
					}
				}
			}
			if len(got) != 1 || got[0] != "X-My-Assertion" {
				t.Errorf("assertion headers at the origin: %q, want the gateway's X-My-Assertion only", got)
			}
		})
	}
	// The '_' spelling is not stripped but refused, like any underscore
	// name (oauth2-proxy CVE-2025-64484).
	before := origin.count()
	req, _ := http.NewRequest("GET", tg.url("/api/x"), nil)
	req.Header.Set("Authorization", "Bearer "+idpToken("u-1", "ada@example.com"))
	req.Header["X_My_Assertion"] = []string{forged}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || origin.count() != before {
		t.Fatalf("X_My_Assertion: %d, origin reached %d times", resp.StatusCode, origin.count()-before)
	}
}

// TestAssertionThroughSidecar puts the `edgegate origin` sidecar
// (internal/originproxy) between a started gateway and an application: the
// application gets the sidecar's X-Edgegate-* identity headers and nothing
// a client sent in their place; the sidecar refuses requests that did not
// come through the gateway.
func TestAssertionThroughSidecar(t *testing.T) {
	app := newEchoOrigin(t, "app")
	appURL, _ := url.Parse(app.URL)
	var sidecarHandler atomic.Pointer[http.Handler]
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*sidecarHandler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(sidecar.Close)
	tg := startGateway(t, assertConfig(t, sidecar.URL, "assertion: {issuer: \"https://edge.test\"}\n"))
	v, err := verifier.New(context.Background(), verifier.Options{JWKSURL: tg.url(jwksPath), Issuer: "https://edge.test", Audience: "app"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := originproxy.New(originproxy.Options{Verifier: v, Upstream: appURL})
	if err != nil {
		t.Fatal(err)
	}
	sidecarHandler.Store(&h)

	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	clientHeaders := map[string]string{"Edgegate-Assertion": forged, "X-Edgegate-User": "root", "X.Edgegate.Email": "root@evil.test",
		"X-Edgegate-Groups": "admins", "X-Forwarded-User": "root"}
	req, _ := http.NewRequest("GET", tg.url("/api/x"), nil)
	req.Header.Set("Authorization", "Bearer "+idpToken("u-1", "ada@example.com", "eng", "ops"))
	for k, v := range clientHeaders {
		req.Header[k] = []string{v}
	}
	resp, e := getEcho(t, http.DefaultClient, req)
	if resp.StatusCode != 200 {
		t.Fatalf("through the gateway and the sidecar: %d", resp.StatusCode)
	}
	for k, want := range map[string]string{originproxy.HeaderUser: "u-1", originproxy.HeaderEmail: "ada@example.com",
		originproxy.HeaderGroups: "eng,ops", originproxy.HeaderMethod: "bearer"} {
		if got := e.Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("app got %s = %q, want %q", k, got, want)
		}
	}
	for k, vv := range e.Header {
		if hygiene.SameHeaderName(k, "Edgegate-Assertion") || k == "Authorization" {
			t.Errorf("app got %s", k)
		}
		for _, v := range vv {
			for ck, cv := range clientHeaders {
				if v == cv {
					t.Errorf("app got the client's %s as %s", ck, k)
				}
			}
		}
	}
	if e.Header.Get(RequestIDHeader) != resp.Header.Get(RequestIDHeader) {
		t.Errorf("app saw request ID %q, the client %q", e.Header.Get(RequestIDHeader), resp.Header.Get(RequestIDHeader))
	}

	// Straight to the sidecar, past the gateway: refused, whatever the
	// identity headers say.
	before := app.count()
	for name, hdr := range map[string]map[string]string{
		"no assertion":        {},
		"identity headers":    {"X-Edgegate-User": "root", "X-Forwarded-User": "root"},
		"forged assertion":    {"Edgegate-Assertion": forged, "X-Edgegate-User": "root"},
		"assertion elsewhere": {"X-Assertion": forged},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", sidecar.URL+"/api/x", nil)
			for k, v := range hdr {
				req.Header[k] = []string{v}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Fatalf("direct request: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
		})
	}
	if app.count() != before {
		t.Fatalf("%d direct requests reached the app", app.count()-before)
	}
}

func TestJWKSEndpoint(t *testing.T) {
	origin := newEchoOrigin(t, "a")
	tg := startGatewayWith(t, basicConfig(origin.URL, ""), nil)
	resp, err := http.Get(tg.url(jwksPath))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=3600" || resp.Header.Get("ETag") == "" ||
		resp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS %s: want the active and the next key", body)
	}
	for _, k := range set.Keys {
		if k["d"] != "" || k["kty"] != "EC" || k["alg"] != "ES256" || k["kid"] == "" {
			t.Fatalf("bad JWK %v", k)
		}
	}
	if origin.count() != 0 {
		t.Fatal("the JWKS request reached the origin")
	}
	cases := []struct {
		method, path, inm string
		status            int
	}{
		{"GET", jwksPath, resp.Header.Get("ETag"), 304},
		{"GET", jwksPath, `W/` + resp.Header.Get("ETag") + `, "x"`, 304},
		{"GET", jwksPath, `"other"`, 200},
		{"HEAD", jwksPath, "", 200},
		{"POST", jwksPath, "", 405},
		{"GET", wellKnownPrefix + "other.json", "", 404},
	}
	for _, tc := range cases {
		t.Run(tc.method+tc.path+tc.inm, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tg.url(tc.path), nil)
			if tc.inm != "" {
				req.Header.Set("If-None-Match", tc.inm)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	// max-age is a quarter of the rotation period, at most an hour (and at
	// least a second): a verifier that honours it learns of the next key
	// well before that key signs.
	for _, tc := range []struct {
		rotation time.Duration
		want     string
	}{
		{24 * time.Hour, "public, max-age=3600"},
		{4 * time.Hour, "public, max-age=3600"},
		{2 * time.Hour, "public, max-age=1800"},
		{2 * time.Minute, "public, max-age=30"},
		{300 * time.Millisecond, "public, max-age=1"},
	} {
		t.Run("max-age for rotation "+tc.rotation.String(), func(t *testing.T) {
			tg := startGatewayWith(t, basicConfig(origin.URL, ""), func(c *config.Config) { c.Keys.Rotation = tc.rotation })
			resp, err := http.Get(tg.url(jwksPath))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || got != tc.want {
				t.Fatalf("%d Cache-Control %q, want %q", resp.StatusCode, got, tc.want)
			}
		})
	}
}

// TestRotationUnderLoad rotates keys every 300ms while requests flow
// through the gateway to an origin verifying against the live JWKS: none
// may fail, and several keys must have signed. Then a captured assertion,
// replayed to the origin once it has expired, is refused.
func TestRotationUnderLoad(t *testing.T) {
	// A leeway well under the default 30s, so the replay below need not
	// wait long; it still covers the whole second exp loses to rounding
	// (exp is in whole seconds, reuse ends half a ttl after signing).
	const leeway = 2 * time.Second
	origin, arm := newVerifyingOrigin(t, func(o *verifier.Options) { o.Leeway = leeway })
	tg := startGatewayWith(t, assertConfig(t, origin.URL, "assertion: {issuer: \"https://edge.test\", ttl: 1s}\n"), func(c *config.Config) {
		c.Keys.Rotation = 300 * time.Millisecond
		// Long enough that the replayed assertion's key is still
		// published when it is refused: the refusal must be for expiry.
		c.Keys.RetireAfter = 6 * time.Second
	})
	arm(tg.url(jwksPath))
	tok := idpToken("u-1", "ada@example.com")
	var failures, total atomic.Int64
	var firstMu sync.Mutex
	var firstFail string
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				// Distinct callers defeat reuse for half of them, so fresh
				// signatures happen across every rotation too.
				bearer := tok
				if i%2 == 1 {
					bearer = idpToken(fmt.Sprintf("u-%d-%d", w, i), "x@example.com")
				}
				req, _ := http.NewRequest("GET", tg.url("/api/load"), nil)
				req.Header.Set("Authorization", "Bearer "+bearer)
				resp, err := client.Do(req)
				total.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
					firstMu.Lock()
					if firstFail == "" {
						if err != nil {
							firstFail = err.Error()
						} else {
							b, _ := io.ReadAll(resp.Body)
							firstFail = fmt.Sprintf("%d %s", resp.StatusCode, b)
						}
					}
					firstMu.Unlock()
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	origin.mu.Lock()
	kids := len(origin.kids)
	origin.mu.Unlock()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed across rotations; first: %s", failures.Load(), total.Load(), firstFail)
	}
	if kids < 4 {
		t.Fatalf("only %d signing keys seen in 2s with a 300ms rotation", kids)
	}
	if got := testCounter(t, tg.g.Metrics().Keys.KeyEvents.WithLabelValues("signing", "activate")); got < 3 {
		t.Errorf("activate events = %v", got)
	}
	t.Logf("%d requests, %d keys", total.Load(), kids)

	// A stolen assertion: replayed straight to the origin after its exp
	// plus the verifier's leeway, it is refused as expired.
	origin.mu.Lock()
	stolen := origin.lastTok
	origin.mu.Unlock()
	pb, err := base64.RawURLEncoding.DecodeString(strings.Split(stolen, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Exp int64 }
	if err := json.Unmarshal(pb, &claims); err != nil || claims.Exp == 0 {
		t.Fatalf("assertion claims %s: %v", pb, err)
	}
	time.Sleep(time.Until(time.Unix(claims.Exp, 0).Add(leeway + 50*time.Millisecond)))
	req, _ := http.NewRequest("GET", origin.URL+"/api/load", nil)
	req.Header.Set(verifier.DefaultHeader, stolen)
	hits := origin.hits.Load()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var refusal struct{ Reason string }
	json.Unmarshal(body, &refusal)
	if resp.StatusCode != http.StatusUnauthorized || refusal.Reason != "expired" {
		t.Fatalf("expired assertion replayed: %d %s, want 401 expired", resp.StatusCode, body)
	}
	if origin.hits.Load() != hits {
		t.Fatal("the handler ran for an expired assertion")
	}
}

func TestKeystoreAcrossRestartsAndRefusals(t *testing.T) {
	origin := newEchoOrigin(t, "a")
	dir := t.TempDir()
	store := filepath.Join(dir, "edgegate-keys.json")
	src := basicConfig(origin.URL, "keys: {keystore: "+store+", master_key_env: EG_TEST_MASTER_KEY}\n")
	t.Setenv("EG_TEST_MASTER_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	kidsOf := func(tg *testGateway) string {
		resp, err := http.Get(tg.url(jwksPath))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	tg := startGatewayWith(t, src, nil)
	first := kidsOf(tg)
	tg.stop()
	if _, err := os.Stat(store); err != nil {
		t.Fatalf("keystore not created: %v", err)
	}
	tg = startGatewayWith(t, src, nil)
	if got := kidsOf(tg); got != first {
		t.Fatalf("keys changed across a restart:\n%s\n%s", first, got)
	}
	tg.stop()

	stored, _ := os.ReadFile(store)
	newGW := func() error {
		file := filepath.Join(t.TempDir(), "e.yaml")
		os.WriteFile(file, []byte(src), 0o600)
		cfg, err := config.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
		if err == nil {
			g.Close()
		}
		return err
	}
	cases := []struct {
		name  string
		setup func()
		want  error
		msg   []string
	}{
		{"master key unset", func() { t.Setenv("EG_TEST_MASTER_KEY", "") }, keys.ErrMasterKey, []string{"EG_TEST_MASTER_KEY", store}},
		{"wrong master key", func() { t.Setenv("EG_TEST_MASTER_KEY", strings.Repeat("x", 40)) }, keys.ErrMasterKey, []string{"EG_TEST_MASTER_KEY", store}},
		{"corrupted keystore", func() { os.WriteFile(store, stored[:len(stored)/2], 0o600) }, keys.ErrCorrupt, []string{store}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EG_TEST_MASTER_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
			os.WriteFile(store, stored, 0o600)
			tc.setup()
			before, _ := os.ReadFile(store)
			err := newGW()
			if !errors.Is(err, tc.want) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not name %q", err, m)
				}
			}
			if after, _ := os.ReadFile(store); !bytes.Equal(before, after) {
				t.Fatal("the keystore was overwritten")
			}
		})
	}
}

// TestMTLSOrigin: a pool with a client certificate reaches an origin that
// requires and verifies one.
func TestMTLSOrigin(t *testing.T) {
	certs, err := filepath.Abs("../config/testdata/certs")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(certs, "server.pem"), filepath.Join(certs, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var clientCN atomic.Value
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clientCN.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		io.WriteString(w, "mtls ok")
	}))
	origin.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	origin.StartTLS()
	defer origin.Close()
	u := strings.Replace(origin.URL, "127.0.0.1", "localhost", 1)
	for _, tc := range []struct {
		name   string
		tls    string
		status int
	}{
		{"with client certificate", fmt.Sprintf("{ca_file: %s/ca.pem, cert_file: %s/client.pem, key_file: %s/client-key.pem}", certs, certs, certs), 200},
		{"without client certificate", fmt.Sprintf("{ca_file: %s/ca.pem}", certs), 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(basicConfig(u, ""), "      - url: "+u+"\n", "      - url: "+u+"\n    tls: "+tc.tls+"\n    retries: 0\n", 1)
			tg := startGatewayWith(t, src, nil)
			resp, err := http.Get(tg.url("/x"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status == 200 && (string(body) != "mtls ok" || clientCN.Load() != "client") {
				t.Fatalf("body %q, client %v", body, clientCN.Load())
			}
		})
	}
}

// testCounter reads a counter's value.
func testCounter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
