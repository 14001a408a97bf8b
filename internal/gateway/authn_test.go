package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/testpeer"
)

// bearerOP is the real npm oidc-provider (internal/testpeer) on loopback.
type bearerOP struct{ *testpeer.OIDCProvider }

// startBearerOP starts the real provider; missing node or
// e2e/node_modules fails the test (scripts/test-all installs them).
func startBearerOP(t *testing.T, args ...string) *bearerOP {
	t.Helper()
	p, err := testpeer.StartOIDCProvider(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &bearerOP{p}
}

func (p *bearerOP) token(t *testing.T) string {
	t.Helper()
	tok, err := p.Token("api:read")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (p *bearerOP) admin(t *testing.T, action string) {
	t.Helper()
	if _, err := p.AdminAction(action); err != nil {
		t.Fatal(err)
	}
}

// call sends GET path with an optional bearer token and returns status,
// WWW-Authenticate and the decoded JSON error code.
func call(t *testing.T, tg *testGateway, path, auth string, hdr ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tg.url(path), nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), e.Error
}

func bearerConfig(originURL, identity, routes string) string {
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
timeouts: {shutdown: 5s}
pools: [{name: app, members: [%s]}]
identity:
%s
routes:
%s`, originURL, identity, routes)
}

const bearerRoutes = `  - {name: api, match: {path_prefix: /api}, pool: app, auth: {mode: bearer}, allow: [{expr: "true"}]}
  - {name: fwd, match: {path_prefix: /fwd}, pool: app, auth: {mode: bearer, forward_token: true}, allow: [{expr: "true"}]}
  - {name: both, match: {path_prefix: /both}, pool: app, auth: {mode: bearer_or_session}, allow: [{expr: "true"}]}
  - {name: open, match: {path_prefix: /}, pool: app}
`

// TestBearerWithOIDCProvider runs the gateway against the real npm
// oidc-provider: discovery, client-credentials tokens, 401s with reasons,
// and a key rotation mid-test.
func TestBearerWithOIDCProvider(t *testing.T) {
	op := startBearerOP(t, "--alg", "RS256")
	o := newEchoOrigin(t, "a")
	tg := startGateway(t, bearerConfig(o.URL, fmt.Sprintf(`  issuers:
    - name: op
      issuer: %s
      audiences: [api://edgegate]
      unknown_kid_refetch_interval: 1s
      jwks_refresh: 1s`, op.Issuer), bearerRoutes))
	tok := op.token(t)

	req, _ := http.NewRequest(http.MethodGet, tg.url("/api/x"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, e := getEcho(t, http.DefaultClient, req)
	if resp.StatusCode != 200 {
		t.Fatalf("valid token: %d", resp.StatusCode)
	}
	if e.Header.Get("Authorization") != "" {
		t.Fatal("the caller's token reached the origin")
	}
	req, _ = http.NewRequest(http.MethodGet, tg.url("/fwd/x"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if _, e := getEcho(t, http.DefaultClient, req); e.Header.Get("Authorization") != "Bearer "+tok {
		t.Fatal("forward_token: true did not forward the token")
	}

	seen := o.count()
	status, challenge, code := call(t, tg, "/api/x", "")
	if status != 401 || challenge != `Bearer realm="edgegate"` || code != "authn.missing" {
		t.Fatalf("no token: %d %q %q", status, challenge, code)
	}
	status, challenge, code = call(t, tg, "/api/x", "Bearer "+tok[:len(tok)-4]+"AAAA")
	if status != 401 || code != "authn.bad_signature" ||
		challenge != `Bearer realm="edgegate", error="invalid_token", error_description="the signature is invalid"` {
		t.Fatalf("tampered token: %d %q %q", status, challenge, code)
	}
	// A route taking both never treats a cookie as a token or the reverse:
	// a bad bearer with a cookie is a bearer failure.
	if status, _, code := call(t, tg, "/both/x", "Bearer garbage", "Cookie", "__Host-edgegate=whatever"); status != 401 || code != "authn.malformed" {
		t.Fatalf("both, bad bearer and a cookie: %d %q", status, code)
	}
	if status, _, _ := call(t, tg, "/both/x", "Bearer "+tok); status != 200 {
		t.Fatalf("both, good bearer: %d", status)
	}
	if status, _, _ := call(t, tg, "/open/x", "Bearer garbage"); status != 200 {
		t.Fatalf("public route: %d", status)
	}
	if o.count() != seen+2 {
		t.Fatalf("origin reached %d times by refused requests", o.count()-seen-2)
	}

	// Rotation mid-test.
	op.admin(t, "rotate")
	fresh := op.token(t)
	if status, _, code := call(t, tg, "/api/x", "Bearer "+fresh); status != 200 {
		t.Fatalf("token of the rotated key: %d %s", status, code)
	}
	if status, _, _ := call(t, tg, "/api/x", "Bearer "+tok); status != 200 {
		t.Fatalf("old token while its key is published: %d", status)
	}
	op.admin(t, "retire")
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, code = call(t, tg, "/api/x", "Bearer "+tok)
		if status == 401 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status != 401 || code != "authn.unknown_kid" {
		t.Fatalf("old token after its key was retired: %d %q", status, code)
	}
	if status, _, _ := call(t, tg, "/api/x", "Bearer "+fresh); status != 200 {
		t.Fatalf("new token after retirement: %d", status)
	}

	// Metrics and logs: failures counted by reason, never a token logged.
	mresp, err := http.Get("http://" + tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mbody, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`edgegate_authn_failures_total{reason="bad_signature",route="api"} 1`,
		`edgegate_authn_failures_total{reason="missing",route="api"} 1`, `edgegate_jwks_fetches_total{issuer="op",result="ok"}`,
		`edgegate_authn_successes_total{method="bearer",route="api"}`} {
		if !strings.Contains(string(mbody), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{tok, fresh, tok[len(tok)-40:]} {
		if strings.Contains(tg.logs.String(), secret) || strings.Contains(tg.access.String(), secret) {
			t.Fatal("a token appears in the logs")
		}
	}
}

// localIdP signs tokens with Go keys published as a JWKS file.
type localIdP struct {
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	file string
	iss  string
}

func newLocalIdP(t testing.TB, dir string) *localIdP {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rk.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		{Key: &ek.PublicKey, KeyID: "e1", Algorithm: "ES256", Use: "sig"},
	}}
	b, _ := json.Marshal(set)
	file := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &localIdP{rsa: rk, ec: ek, file: file, iss: "https://idp.test"}
}

func (p *localIdP) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": p.iss, "sub": "alice", "aud": "api", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func (p *localIdP) sign(t testing.TB, alg string, c jwt.MapClaims, hdr map[string]any) string {
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	var key any = p.rsa
	tok.Header["kid"] = "r1"
	if alg == "ES256" {
		key, tok.Header["kid"] = p.ec, "e1"
	}
	for k, v := range hdr {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func localConfig(originURL string, p *localIdP, extra string) string {
	return bearerConfig(originURL, fmt.Sprintf(`  issuers:
    - name: local
      issuer: %s
      jwks_file: %s
      audiences: [api]
%s`, p.iss, p.file, extra), bearerRoutes)
}

// TestBearerAttacksThroughGateway: a handful of the attack list through
// the whole pipeline; each gets 401 with its reason and never reaches the
// origin.
func TestBearerAttacksThroughGateway(t *testing.T) {
	p := newLocalIdP(t, t.TempDir())
	o := newEchoOrigin(t, "a")
	tg := startGateway(t, localConfig(o.URL, p, ""))
	enc := base64.RawURLEncoding
	good := p.sign(t, "RS256", p.claims(), nil)
	parts := strings.Split(good, ".")
	pubDER, _ := x509.MarshalPKIXPublicKey(&p.rsa.PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, p.claims())
	hs.Header["kid"] = "r1"
	hsTok, _ := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	expired := p.claims()
	expired["iat"], expired["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-10*time.Minute).Unix()
	wrongAud := p.claims()
	wrongAud["aud"] = "other"
	longLife := p.claims()
	longLife["exp"] = time.Now().Add(5 * time.Hour).Unix()
	dupPayload := strings.Replace(mustJSONString(map[string]any(p.claims())), `"sub":"alice"`, `"sub":"alice","sub":"root"`, 1)
	dupIn := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"r1"}`)) + "." + enc.EncodeToString([]byte(dupPayload))
	dupSig, _ := jwt.SigningMethodRS256.Sign(dupIn, p.rsa)

	cases := []struct{ name, token, code string }{
		{"alg none", enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", "authn.alg_not_allowed"},
		{"alg NoNe", enc.EncodeToString([]byte(`{"alg":"NoNe"}`)) + "." + parts[1] + ".", "authn.alg_not_allowed"},
		{"HS256 with the public key", hsTok, "authn.alg_not_allowed"},
		{"kid traversal", p.sign(t, "RS256", p.claims(), map[string]any{"kid": "../../etc/passwd"}), "authn.unknown_kid"},
		{"expired", p.sign(t, "RS256", expired, nil), "authn.expired"},
		{"wrong audience", p.sign(t, "ES256", wrongAud, nil), "authn.wrong_audience"},
		{"lifetime", p.sign(t, "RS256", longLife, nil), "authn.lifetime_too_long"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "authn.bad_signature"},
		{"duplicate keys", dupIn + "." + enc.EncodeToString(dupSig), "authn.malformed"},
		{"crit", p.sign(t, "RS256", p.claims(), map[string]any{"crit": []string{"b64"}, "b64": false}), "authn.unsupported_header"},
		{"20 KiB token", parts[0] + "." + strings.Repeat("A", 20<<10) + "." + parts[2], "authn.too_large"},
		{"garbage", "%%%", "authn.malformed"},
	}
	seen := o.count()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, challenge, code := call(t, tg, "/api/x", "Bearer "+tc.token)
			if status != 401 || code != tc.code || !strings.HasPrefix(challenge, `Bearer realm="edgegate", error="invalid_token", error_description="`) {
				t.Fatalf("%d %q %q", status, code, challenge)
			}
		})
	}
	if o.count() != seen {
		t.Fatalf("refused requests reached the origin %d times", o.count()-seen)
	}
	if status, _, _ := call(t, tg, "/api/x", "Bearer "+good); status != 200 {
		t.Fatalf("valid token: %d", status)
	}
	for name, hdr := range map[string][]string{
		"two headers":  {"Authorization", "Bearer " + good, "Authorization", "Bearer " + good},
		"basic scheme": {"Authorization", "Basic YTpi"},
	} {
		if status, _, _ := call(t, tg, "/api/x", "", hdr...); status != 401 {
			t.Errorf("%s: %d", name, status)
		}
	}
	// Browsers get the HTML page with the same status and challenge.
	req, _ := http.NewRequest(http.MethodGet, tg.url("/api/x"), nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Authorization", "Bearer "+cases[4].token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("expired")) {
		t.Fatalf("HTML 401: %d %s", resp.StatusCode, body)
	}
}

// TestBearerForbiddenAndAudited drives real signed tokens through the
// whole pipeline with an audit file sink: a valid token whose identity no
// rule allows gets 403 (JSON for APIs, an HTML page for browsers), and
// every refused token leaves a record that correlates with the response
// (request ID, route, client address, the token's fingerprint, the typed
// reason) while the file holds no token.
func TestBearerForbiddenAndAudited(t *testing.T) {
	dir := t.TempDir()
	p := newLocalIdP(t, dir)
	o := newEchoOrigin(t, "a")
	auditFile := filepath.Join(dir, "audit.jsonl")
	tg := startGateway(t, bearerConfig(o.URL, fmt.Sprintf("  issuers:\n    - {name: local, issuer: %s, jwks_file: %s, audiences: [api]}\n", p.iss, p.file),
		`  - {name: admin, match: {path_prefix: /admin}, pool: app, auth: {mode: bearer}, allow: [{name: admins, expr: '"admins" in identity.groups'}]}
  - {name: api, match: {path_prefix: /api}, pool: app, auth: {mode: bearer}, allow: [{expr: "true"}]}
`)+fmt.Sprintf("audit:\n  sinks: [{type: file, path: %q}]\n", auditFile))

	do := func(path, token, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, tg.url(path), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, body
	}

	// A valid token without the permission.
	good := p.sign(t, "ES256", p.claims(), nil)
	if resp, body := do("/api/x", good, ""); resp.StatusCode != 200 {
		t.Fatalf("valid token on an open route: %d %s", resp.StatusCode, body)
	}
	seen := o.count()
	resp, body := do("/admin/x", good, "application/json")
	var e struct {
		Error     string `json:"error"`
		Message   string `json:"message"`
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("403 body %s: %v", body, err)
	}
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		e.Error != "policy.denied" || e.Message != "access denied by policy (no_allow_rule)" || e.Status != 403 ||
		e.RequestID != resp.Header.Get(RequestIDHeader) || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("forbidden API call: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = do("/admin/x", good, "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!bytes.Contains(body, []byte("<h1>403 Forbidden</h1>")) || !bytes.Contains(body, []byte(resp.Header.Get(RequestIDHeader))) {
		t.Fatalf("forbidden browser call: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if o.count() != seen {
		t.Fatal("a forbidden request reached the origin")
	}

	// Refused tokens, each recorded.
	expired := p.claims()
	expired["iat"], expired["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-10*time.Minute).Unix()
	wrongAud := p.claims()
	wrongAud["aud"] = "other"
	tampered := strings.Split(p.sign(t, "RS256", p.claims(), nil), ".")
	refused := []struct{ name, token, reason string }{
		{"expired", p.sign(t, "RS256", expired, nil), "expired"},
		{"wrong audience", p.sign(t, "ES256", wrongAud, nil), "wrong_audience"},
		{"bad signature", tampered[0] + "." + tampered[1] + "." + tampered[2][:len(tampered[2])-8] + "AAAAAAAA", "bad_signature"},
	}
	ids := map[string]string{} // request ID -> case
	for _, tc := range refused {
		resp, body := do("/api/x", tc.token, "")
		if resp.StatusCode != 401 || !strings.Contains(string(body), `"authn.`+tc.reason+`"`) {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
		ids[resp.Header.Get(RequestIDHeader)] = tc.name
	}
	tg.stop()

	events := readAudit(t, auditFile, len(refused))
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			var rec *audit.Event
			for i := range events {
				if ev := &events[i]; ev.Kind == audit.KindAuthnFailure && ids[ev.RequestID] == tc.name {
					rec = ev
				}
			}
			if rec == nil {
				t.Fatalf("no authn.failure record with the response's request ID; records: %+v", events)
			}
			if rec.Route != "api" || rec.ClientIP != "127.0.0.1" || rec.Reason != tc.reason || rec.Decision != "deny" ||
				rec.Fingerprint != identity.Fingerprint(tc.token) || rec.Path != "/api/x" || rec.Method != "GET" {
				t.Fatalf("record %+v; want route api, client 127.0.0.1, reason %s, fingerprint %s", rec, tc.reason, identity.Fingerprint(tc.token))
			}
		})
	}
	var deny *audit.Event
	for i := range events {
		if events[i].Kind == audit.KindPolicyDeny && events[i].Route == "admin" {
			deny = &events[i]
		}
	}
	if deny == nil || deny.Subject != "alice" || deny.Reason != "no_allow_rule" || deny.Fingerprint != identity.Fingerprint(good) {
		t.Errorf("policy deny record %+v", deny)
	}
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range append([]string{good}, refused[0].token, refused[1].token, refused[2].token) {
		parts := strings.Split(tok, ".")
		for _, secret := range []string{tok, parts[1], parts[2]} {
			if strings.Contains(string(data), secret) || strings.Contains(tg.logs.String(), secret) {
				t.Fatalf("a token (or its payload or signature) is in the audit file or the log")
			}
		}
	}
}

func mustJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAuthnReloadKeepsKeys: a reload that keeps the issuer's key settings
// reuses its keys (no refetch); one that changes them fetches again.
func TestAuthnReloadKeepsKeys(t *testing.T) {
	p := newLocalIdP(t, t.TempDir())
	var hits atomic.Int64
	data, _ := os.ReadFile(p.file)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(data)
	}))
	defer jwks.Close()
	o := newEchoOrigin(t, "a")
	issuer := func(aud string) string {
		return fmt.Sprintf("  issuers:\n    - {name: local, issuer: %s, jwks_url: %s, audiences: [%s]}\n", p.iss, jwks.URL, aud)
	}
	tg := startGateway(t, bearerConfig(o.URL, issuer("api"), bearerRoutes))
	if hits.Load() != 1 {
		t.Fatalf("%d fetches at start", hits.Load())
	}
	apply := func(src string) {
		t.Helper()
		if err := tg.apply(src); err != nil {
			t.Fatal(err)
		}
	}
	apply(bearerConfig(o.URL, issuer("api"), bearerRoutes+"  - {name: extra, match: {path_prefix: /extra}, pool: app}\n"))
	apply(bearerConfig(o.URL, issuer("api2"), bearerRoutes))
	if hits.Load() != 1 {
		t.Fatalf("%d fetches after reloads that kept the key settings; want 1", hits.Load())
	}
	tok := p.sign(t, "RS256", func() jwt.MapClaims { c := p.claims(); c["aud"] = "api2"; return c }(), nil)
	if status, _, code := call(t, tg, "/api/x", "Bearer "+tok); status != 200 {
		t.Fatalf("after reload: %d %s", status, code)
	}
}

// TestIssuerUnreachable: fail_start refuses to start; fail_closed starts
// and answers 503 on the issuer's routes.
func TestIssuerUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	o := newEchoOrigin(t, "a")
	src := func(extra string) string {
		return bearerConfig(o.URL, fmt.Sprintf("  issuers:\n    - {name: gone, issuer: %s, audiences: [api]%s}\n", deadURL, extra), bearerRoutes)
	}
	cfg, err := config.LoadBytes(filepath.Join(t.TempDir(), "e.yaml"), []byte(src("")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, Options{AccessLog: io.Discard}); err == nil || !strings.Contains(err.Error(), `issuer "gone"`) {
		t.Fatalf("fail_start: %v", err)
	}
	tg := startGateway(t, src(", on_unreachable: fail_closed"))
	req, _ := http.NewRequest(http.MethodGet, tg.url("/api/x"), nil)
	req.Header.Set("Authorization", "Bearer a.b.c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 && resp.StatusCode != 401 {
		t.Fatalf("fail_closed: %d", resp.StatusCode)
	}
	p := newLocalIdP(t, t.TempDir())
	p.iss = deadURL
	good := p.sign(t, "RS256", p.claims(), nil)
	status, _, code := call(t, tg, "/api/x", "Bearer "+good)
	if status != 503 || code != "authn.issuer_unavailable" {
		t.Fatalf("fail_closed with a well-formed token: %d %q", status, code)
	}
	if status, _, _ := call(t, tg, "/open/x", ""); status != 200 {
		t.Fatalf("public route while the issuer is down: %d", status)
	}
}

// BenchmarkBearerRepeated is the full gateway path with one token again
// and again (the verified-token cache), BenchmarkBearerNone the same route
// shape without authentication, and BenchmarkBearerUnique a new token per
// request (RS256 signature every time; tokens minted before the timer).
func BenchmarkBearerRepeated(b *testing.B) { benchBearer(b, "repeated") }
func BenchmarkBearerNone(b *testing.B)     { benchBearer(b, "none") }
func BenchmarkBearerUnique(b *testing.B)   { benchBearer(b, "unique") }

func benchBearer(b *testing.B, kind string) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello world\n"))
	}))
	defer origin.Close()
	p := newLocalIdP(b, b.TempDir())
	tg := startGateway(&testing.T{}, localConfig(origin.URL, p, "")+"log: {access: false}\n")
	defer tg.stop()
	path := "/api/bench"
	if kind == "none" {
		path = "/open/bench"
	}
	toks := []string{p.sign(b, "RS256", p.claims(), nil)}
	if kind == "unique" {
		toks = make([]string, b.N)
		for i := range toks {
			c := p.claims()
			c["jti"] = fmt.Sprint(i)
			toks[i] = p.sign(b, "RS256", c, nil)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	req, _ := http.NewRequest(http.MethodGet, tg.url(path), nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if kind != "none" {
			req.Header.Set("Authorization", "Bearer "+toks[i%len(toks)])
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
