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
	"github.com/edgegate/edgegate/internal/keys"
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

func newVerifyingOrigin(t *testing.T, mod func(*verifier.Options)) (*verifyingOrigin, func(jwksURL string)) {
	o := &verifyingOrigin{kids: map[string]bool{}}
	var v atomic.Pointer[verifier.Verifier]
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.headers = append(o.headers, r.Header.Clone())
		o.mu.Unlock()
		v.Load().Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o.hits.Add(1)
			tok := r.Header.Get(verifier.DefaultHeader)
			hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			var h struct{ Kid string }
			json.Unmarshal(hb, &h)
			o.mu.Lock()
			o.kids[h.Kid] = true
			o.lastTok = tok
			o.mu.Unlock()
			id, _ := verifier.FromContext(r.Context())
			json.NewEncoder(w).Encode(map[string]any{"sub": id.Subject, "email": id.Email, "groups": id.Groups,
				"assertions": len(r.Header.Values(verifier.DefaultHeader)), "fwd_user": r.Header.Values("X-Forwarded-User"),
				"fwd_groups": r.Header.Get("X-Forwarded-Groups")})
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
		v.Store(vv)
	}
}

func TestAssertionReachesVerifyingOrigin(t *testing.T) {
	origin, arm := newVerifyingOrigin(t, nil)
	tg := startGatewayWith(t, assertConfig(t, origin.URL, "assertion: {issuer: \"https://edge.test\", forward_identity_headers: true}\n"), nil)
	arm(tg.url(jwksPath))
	tok := idpToken("u-1", "ada@example.com", "eng", "ops")

	type answer struct {
		Sub        string   `json:"sub"`
		Email      string   `json:"email"`
		Assertions int      `json:"assertions"`
		FwdUser    []string `json:"fwd_user"`
		FwdGroups  string   `json:"fwd_groups"`
	}
	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	cases := []struct {
		name    string
		path    string
		bearer  bool
		forge   map[string]string
		status  int
		wantSub string
	}{
		{"authenticated", "/api/x", true, nil, 200, "u-1"},
		{"client copies removed", "/api/x", true, map[string]string{"Edgegate-Assertion": forged, "edgegate-assertion": forged, "X-Forwarded-User": "root"}, 200, "u-1"},
		{"public route: no assertion, forged one dropped", "/public/x", false, map[string]string{"Edgegate-Assertion": forged}, 401, ""},
		{"no token", "/api/x", false, map[string]string{"Edgegate-Assertion": forged}, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(origin.headers)
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
						if v == forged || (strings.EqualFold(k, "X-Forwarded-User") && v == "root") {
							t.Fatalf("the origin received the client's %s", k)
						}
					}
				}
				if h.Get("Authorization") != "" {
					t.Error("the caller's bearer token reached the origin")
				}
			}
			if tc.status != 200 {
				if len(seen) > 0 && len(seen[0].Values(verifier.DefaultHeader)) != 0 {
					t.Fatal("an assertion reached the origin for an unauthenticated request")
				}
				return
			}
			var a answer
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatal(err)
			}
			if a.Sub != tc.wantSub || a.Email != "ada@example.com" || a.Assertions != 1 || len(a.FwdUser) != 1 || a.FwdUser[0] != "u-1" || a.FwdGroups != "eng,ops" {
				t.Fatalf("origin saw %+v", a)
			}
		})
	}
	// The same caller gets the same (reused) assertion.
	first := origin.lastTok
	req, _ := http.NewRequest("GET", tg.url("/api/y"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if origin.lastTok != first {
		t.Error("assertion not reused for the same caller")
	}
	m := tg.g.Metrics().Keys.Assertions
	if got := testCounter(t, m.WithLabelValues("reused")); got < 1 {
		t.Errorf("reused counter = %v", got)
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
}

// TestRotationUnderLoad rotates keys every 300ms while requests flow
// through the gateway to an origin verifying against the live JWKS: none
// may fail, and several keys must have signed.
func TestRotationUnderLoad(t *testing.T) {
	origin, arm := newVerifyingOrigin(t, nil)
	tg := startGatewayWith(t, assertConfig(t, origin.URL, "assertion: {issuer: \"https://edge.test\", ttl: 1s}\n"), func(c *config.Config) {
		c.Keys.Rotation = 300 * time.Millisecond
		c.Keys.RetireAfter = 2 * time.Second
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
