package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
)

// bundlePath finds a test bundle: the shipped example of that name when
// there is one (so the examples are what the tests prove), else a
// test-only bundle.
func bundlePath(t testing.TB, name string) string {
	p, err := filepath.Abs(filepath.Join("..", "..", "examples", "edgeworkers", name))
	if err == nil {
		if _, serr := os.Stat(p); serr == nil {
			return p
		}
	}
	p, err = filepath.Abs(filepath.Join("..", "script", "testdata", "bundles", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func es256Token(t *testing.T, key *ecdsa.PrivateKey, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + enc([]byte(claims))
	d := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc(sig)
}

func scriptGet(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestScriptsThroughGateway(t *testing.T) {
	app := newEchoOrigin(t, "app")
	beta := newEchoOrigin(t, "beta")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	t.Setenv("EW_DEBUG", "sekrit-token")
	yaml := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
trusted_proxies: ["127.0.0.1"]
log: {level: debug}
pools:
  - {name: app, members: [%q]}
  - {name: beta, members: [%q]}
scripts:
  location_header: X-Geo
  bundles:
    - {name: jwt, path: %q}
    - {name: geo, path: %q}
    - {name: ab, path: %q}
    - {name: mv, path: %q}
    - {name: device, path: %q}
    - {name: orch, path: %q}
    - {name: limits, path: %q, tier: basic}
routes:
  - {name: jwt, match: {path_prefix: /jwt}, pool: app, script: {bundle: jwt, variables: {PMUSER_JWT_PUBKEY: %q}}}
  - {name: geo, match: {path_prefix: /geo}, pool: app, script: {bundle: geo}}
  - {name: ab, match: {path_prefix: /ab}, pool: app, script: {bundle: ab}}
  - {name: mv, match: {path_prefix: /mv}, pool: app, script: {bundle: mv, origins: {microservice1: beta}}}
  - {name: device, match: {path_prefix: /device}, pool: app, script: {bundle: device}}
  - {name: orch, match: {path_prefix: /orch}, pool: app, script: {bundle: orch}}
  - {name: data, match: {path_prefix: /data}, pool: app}
  - {name: limits, match: {path_prefix: /limits}, pool: app, script: {bundle: limits, debug_token_env: EW_DEBUG}}
  - {name: lenient, match: {path_prefix: /lenient}, pool: app, script: {bundle: limits, continue_on_error: true}}
  - {name: plain, match: {path_prefix: /plain}, pool: app}
`, app.URL, beta.URL, bundlePath(t, "jwt-es256"), bundlePath(t, "geo-redirect"), bundlePath(t, "ab-test"), bundlePath(t, "multivariate"),
		bundlePath(t, "device-key"), bundlePath(t, "orchestrate"), bundlePath(t, "limits"), pubPEM)
	tg := startGateway(t, yaml)
	echo := func(body string) echoed {
		var e echoed
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("origin answer %q: %v", body, err)
		}
		return e
	}

	t.Run("jwt valid", func(t *testing.T) {
		tok := es256Token(t, key, `{"sub":"alice","exp":4102444800}`)
		resp, body := scriptGet(t, tg.url("/jwt/x"), map[string]string{"Authorization": "Bearer " + tok})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		e := echo(body)
		if e.Header.Get("X-Jwt-Sub") != "alice" || e.Header.Get("Authorization") != "" {
			t.Errorf("origin saw %v", e.Header)
		}
	})
	t.Run("jwt forged", func(t *testing.T) {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		resp, body := scriptGet(t, tg.url("/jwt/x"), map[string]string{"Authorization": "Bearer " + es256Token(t, other, `{"sub":"mallory"}`)})
		if resp.StatusCode != 401 || !strings.Contains(body, "invalid token") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("jwt expired", func(t *testing.T) {
		resp, _ := scriptGet(t, tg.url("/jwt/x"), map[string]string{"Authorization": "Bearer " + es256Token(t, key, `{"sub":"a","exp":1000}`)})
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("geo redirect", func(t *testing.T) {
		http.DefaultClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		defer func() { http.DefaultClient.CheckRedirect = nil }()
		resp, _ := scriptGet(t, tg.url("/geo/page"), map[string]string{"X-Geo": "country=CH,city=ZURICH"})
		if resp.StatusCode != 302 || !strings.HasSuffix(resp.Header.Get("Location"), "/ch/geo/page") {
			t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = scriptGet(t, tg.url("/geo/page"), nil) // default from defaults.json
		if resp.StatusCode != 302 || !strings.HasSuffix(resp.Header.Get("Location"), "/fr/geo/page") {
			t.Fatalf("default: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("ab cookie and query", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/ab/x?q=1"), map[string]string{"Cookie": "ab=b"})
		if e := echo(body); e.Query != "q=1&variant=b" {
			t.Errorf("origin query %q", e.Query)
		}
		if resp.Header.Get("X-Ab") != "b" || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("response headers %v", resp.Header)
		}
		resp, _ = scriptGet(t, tg.url("/ab/x"), nil)
		if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "ab=") || !strings.Contains(sc, "Max-Age=3600") {
			t.Errorf("new visitor Set-Cookie %q", sc)
		}
	})
	t.Run("multivariate origin", func(t *testing.T) {
		_, body := scriptGet(t, tg.url("/mv/api/users?id=1"), nil)
		if e := echo(body); e.Name != "beta" || e.Path != "/v2/users" || e.Query != "id=1" {
			t.Errorf("routed request went to %s %s?%s", e.Name, e.Path, e.Query)
		}
		_, body = scriptGet(t, tg.url("/mv/x"), nil)
		if e := echo(body); e.Name != "app" || e.Path != "/mv/x" {
			t.Errorf("unrouted request went to %s %s", e.Name, e.Path)
		}
	})
	t.Run("device cache key", func(t *testing.T) {
		_, body := scriptGet(t, tg.url("/device/x"), map[string]string{"User-Agent": "Mozilla/5.0 (iPhone) Mobile"})
		if e := echo(body); e.Header.Get("X-Device-Type") != "mobile" {
			t.Errorf("device type %q: %s", e.Header.Get("X-Device-Type"), body)
		}
	})
	t.Run("orchestration", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/orch/"), nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `"b":"x=1"`) || !strings.Contains(body, `"status":[200,200]`) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		// A failing responseProvider falls back to the origin.
		resp, body = scriptGet(t, tg.url("/orch/"), map[string]string{"X-Fail": "1"})
		if e := echo(body); resp.StatusCode != 200 || e.Path != "/orch/" {
			t.Fatalf("fallback: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("cpu limit", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/limits/?loop"), nil)
		if resp.StatusCode != 500 || !strings.Contains(body, "script.cpuTimeoutError") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Akamai-EdgeWorker-onClientRequest-Info") != "" {
			t.Error("debug header without the token")
		}
		resp, body = scriptGet(t, tg.url("/limits/?ok"), nil)
		if resp.StatusCode != 200 || echo(body).Header.Get("X-Limits") != "ok" {
			t.Fatalf("after a stopped handler: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("memory limit", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/limits/?alloc"), nil)
		if resp.StatusCode != 500 || !strings.Contains(body, "script.resourceLimitHit") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("debug headers", func(t *testing.T) {
		resp, _ := scriptGet(t, tg.url("/limits/?throw"), map[string]string{"Pragma": "akamai-x-ew-debug", "Akamai-EW-Trace": "sekrit-token"})
		info := resp.Header.Get("X-Akamai-EdgeWorker-onClientRequest-Info")
		if resp.StatusCode != 500 || !strings.Contains(info, "status=runtimeError") || !strings.Contains(info, "boom") || !strings.Contains(info, "res_tier=basic") {
			t.Fatalf("status %d info %q", resp.StatusCode, info)
		}
		if log := resp.Header.Get("X-Akamai-EdgeWorker-onClientRequest-Log"); !strings.HasPrefix(log, "D:main.js:") {
			t.Errorf("log header %q", log)
		}
		resp, _ = scriptGet(t, tg.url("/limits/?throw"), map[string]string{"Pragma": "akamai-x-ew-debug", "Akamai-EW-Trace": "wrong"})
		if resp.Header.Get("X-Akamai-EdgeWorker-onClientRequest-Info") != "" {
			t.Error("debug header with a wrong token")
		}
	})
	t.Run("continue on error", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/lenient/?throw"), nil)
		if resp.StatusCode != 200 || echo(body).Path != "/lenient/" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("plain route untouched", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/plain/x"), map[string]string{"X-Geo": "country=CH"})
		if e := echo(body); resp.StatusCode != 200 || e.Header.Get("X-Geo") != "" {
			t.Fatalf("status %d, origin saw X-Geo %q", resp.StatusCode, e.Header.Get("X-Geo"))
		}
	})
}

// TestEdgeKVRedirect runs the EdgeKV-backed redirect bundle (carrying the
// EdgeKV helper file) behind a route: its sub-requests to the EdgeKV host
// are answered by the embedded store, writes survive a reload with the
// same configuration, and a wrong token fails the lookups (the bundle
// then serves the page).
func TestEdgeKVRedirect(t *testing.T) {
	app := newEchoOrigin(t, "app")
	t.Setenv("EKV_TOKEN", "local-test-token")
	t.Setenv("EKV_WRONG", "not-the-token")
	cfgFor := func(tokenEnv string) string {
		return fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
pools: [{name: app, members: [%q]}]
scripts:
  edgekv: {data_file: kv.json, token_env: %s}
  bundles: [{name: ekv, path: %q}]
routes:
  - {name: r, match: {path_prefix: /}, pool: app, script: {bundle: ekv}}
`, app.URL, tokenEnv, bundlePath(t, "edgekv-redirect"))
	}
	tg := startGatewayFiles(t, cfgFor("EKV_TOKEN"), map[string]string{
		"kv.json": `{"redirects": {"paths": {"old-page": {"to": "https://www.example.com/new-page", "status": 301}, "promo": {"to": "/sale"}}}}`,
	})
	http.DefaultClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	defer func() { http.DefaultClient.CheckRedirect = nil }()
	for i, want := range []string{"1", "2"} {
		resp, _ := scriptGet(t, tg.url("/old-page"), nil)
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://www.example.com/new-page" || resp.Header.Get("X-Redirect-Hits") != want {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
	resp, _ := scriptGet(t, tg.url("/promo"), nil)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/sale" {
		t.Fatalf("promo: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := scriptGet(t, tg.url("/other"), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"path":"/other"`) {
		t.Fatalf("no rule: %d %s", resp.StatusCode, body)
	}
	rl := &Reloader{Path: tg.file, Gateway: tg.g}
	if err := os.WriteFile(tg.file, []byte(cfgFor("EKV_TOKEN")+"# another route would go here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := scriptGet(t, tg.url("/old-page"), nil); resp.Header.Get("X-Redirect-Hits") != "3" {
		t.Errorf("after a reload the counter restarted: %v", resp.Header)
	}
	// A token the store does not accept: the lookup fails, the page is served.
	if err := os.WriteFile(tg.file, []byte(cfgFor("EKV_WRONG")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, body = scriptGet(t, tg.url("/old-page"), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"path":"/old-page"`) {
		t.Fatalf("wrong token: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(tg.logs.String(), "local-test-token") {
		t.Error("the EdgeKV token reached the logs")
	}
	// A token_env that is empty refuses the configuration (fail closed).
	t.Setenv("EKV_WRONG", "")
	if err := os.WriteFile(tg.file, []byte(cfgFor("EKV_WRONG")+"# now empty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rl.Reload(); err == nil || !strings.Contains(err.Error(), "EKV_WRONG") {
		t.Errorf("empty token env: %v", err)
	}
}

// startGatewayFiles writes extra files beside the configuration first.
func startGatewayFiles(t *testing.T, src string, files map[string]string) *testGateway {
	t.Helper()
	tg := startGateway(t, "version: 1\nlisteners: [{address: \"127.0.0.1:0\"}]\nadmin: {address: \"off\"}\npools: [{name: p, members: [\"http://127.0.0.1:9\"]}]\nroutes: [{name: r, pool: p}]\n")
	dir := filepath.Dir(tg.file)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(tg.file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Reloader{Path: tg.file, Gateway: tg.g}).Reload(); err != nil {
		t.Fatalf("load: %v", err)
	}
	return tg
}

// TestStreamingFindReplace: a responseProvider streams the origin's body
// through TransformStreams; an error mid-stream cuts the response (status
// 200 already sent, body truncated, connection closed).
func TestStreamingFindReplace(t *testing.T) {
	app := newEchoOrigin(t, "app")
	tg := startGateway(t, fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
pools: [{name: app, members: [%q]}]
scripts:
  bundles: [{name: fr, path: %q}]
routes:
  - {name: fr, match: {path_prefix: /fr}, pool: app, script: {bundle: fr, variables: {PMUSER_FIND: cat, PMUSER_REPLACE: dog}}}
  - {name: data, match: {path_prefix: /data}, pool: app}
`, app.URL, bundlePath(t, "find-replace")))
	resp, body := scriptGet(t, tg.url("/fr/cat-and-catalog"), nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Rewritten") != "true" || !strings.Contains(body, `"path":"/data/dog-and-dogalog"`) || strings.Contains(body, "cat") {
		t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Header, body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("rewritten body is not the whole JSON: %v", err)
	}

	req, _ := http.NewRequest("GET", tg.url("/fr/cat"), nil)
	req.Header.Set("X-Fail-After", "1")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, rerr := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 200 || rerr == nil || len(b) != 0 {
		t.Errorf("mid-stream failure: status %d, read %q, err %v (want 200, nothing, a truncated body)", r2.StatusCode, b, rerr)
	}
	if !strings.Contains(tg.logs.String(), "find-replace failed on chunk 1") {
		t.Errorf("the failure is not logged: %s", tg.logs.String())
	}
	// The gateway and the bundle keep serving.
	if resp, body := scriptGet(t, tg.url("/fr/cat"), nil); resp.StatusCode != 200 || !strings.Contains(body, "/data/dog") {
		t.Errorf("after a failed stream: %d %s", resp.StatusCode, body)
	}
}

// BenchmarkScriptOverhead compares the same route with and without a no-op
// onClientRequest, in process (ServeHTTP, origin on loopback): the
// difference of the two ns/op is what a script costs per request.
func BenchmarkScriptOverhead(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello world\n")
	}))
	defer origin.Close()
	noop, err := filepath.Abs(filepath.Join("..", "..", "bench", "edgeworkers", "noop"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, script string }{
		{"scriptless", ""},
		{"noop-onClientRequest", "\n    script: {bundle: noop}"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
log: {level: error, access: false}
pools: [{name: origin, members: [%q]}]
scripts: {bundles: [{name: noop, path: %q}]}
routes:
  - name: all
    match: {path_prefix: /}
    pool: origin%s
`, origin.URL, noop, tc.script)
			file := filepath.Join(b.TempDir(), "edgegate.yaml")
			if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
				b.Fatal(err)
			}
			cfg, err := config.Load(file)
			if err != nil {
				b.Fatal(err)
			}
			g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), AccessLog: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			req := httptest.NewRequest("GET", "http://bench.example/", nil)
			req.RemoteAddr, req.RequestURI = "127.0.0.1:1234", "/"
			// In process there is no HTTP/1 wire for the framing guard.
			req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				r := req.Clone(req.Context())
				g.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d %v %s", w.status, w.h, w.body)
				}
			}
		})
	}
}

type discardWriter struct {
	h      http.Header
	status int
	body   string
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	if d.status != http.StatusOK {
		d.body += string(p)
	}
	return len(p), nil
}

// TestGeoAndDevice: userLocation from the MaxMind database by client
// address (the trusted X-Forwarded-For here), unless the location header
// gives one; device from the User-Agent.
func TestGeoAndDevice(t *testing.T) {
	app := newEchoOrigin(t, "app")
	dir := t.TempDir()
	mmdb, err := os.ReadFile(filepath.Join("..", "config", "testdata", "valid", "geo.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "where")
	_ = os.MkdirAll(bundle, 0o755)
	_ = os.WriteFile(filepath.Join(bundle, "bundle.json"), []byte(`{"edgeworker-version":"1"}`), 0o644)
	_ = os.WriteFile(filepath.Join(bundle, "main.js"), []byte(`
export function onClientRequest(r) {
  const l = r.userLocation, d = r.device;
  r.setHeader('X-Where', l ? l.country + '/' + (l.city || '-') : 'unknown');
  r.setHeader('X-Device', d ? (d.isMobile ? 'mobile' : d.isTablet ? 'tablet' : 'desktop') + '/' + (d.os || '-') : 'undefined');
}`), 0o644)
	tg := startGatewayFiles(t, fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
trusted_proxies: ["127.0.0.1"]
pools: [{name: app, members: [%q]}]
scripts:
  location_header: X-Geo
  geoip_file: geo.mmdb
  device_detection: true
  bundles: [{name: where, path: %q}]
routes: [{name: r, match: {path_prefix: /}, pool: app, script: {bundle: where}}]
`, app.URL, bundle), map[string]string{"geo.mmdb": string(mmdb)})
	for _, tc := range []struct {
		hdr               map[string]string
		where, deviceWant string
	}{
		{map[string]string{"X-Forwarded-For": "192.0.2.9", "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile"}, "US/SANJOSE", "mobile/iOS"},
		{map[string]string{"X-Forwarded-For": "198.51.100.3", "User-Agent": "Mozilla/5.0 (Windows NT 10.0)"}, "CH/-", "desktop/Windows"},
		{map[string]string{"X-Forwarded-For": "192.0.2.9", "X-Geo": "country=DE,city=BERLIN"}, "DE/BERLIN", "desktop/-"}, // Go's own User-Agent
		{map[string]string{"X-Forwarded-For": "203.0.113.1"}, "unknown", "desktop/-"},
	} {
		_, body := scriptGet(t, tg.url("/x"), tc.hdr)
		var e echoed
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatal(err)
		}
		if e.Header.Get("X-Where") != tc.where || e.Header.Get("X-Device") != tc.deviceWant {
			t.Errorf("%v: where %q device %q, want %q %q", tc.hdr, e.Header.Get("X-Where"), e.Header.Get("X-Device"), tc.where, tc.deviceWant)
		}
	}
}

// TestResponseProviderDebugMultipart: with the debug token and Pragma
// akamai-x-ew-debug-rp, the responseProvider's debug output is the second
// part of a multipart body and the cache is bypassed (neither read nor
// written); without the token nothing changes.
func TestResponseProviderDebugMultipart(t *testing.T) {
	t.Setenv("EW_RP_DEBUG", "rp-token")
	dir := t.TempDir()
	for name, data := range map[string]string{
		"bundle.json": `{"edgeworker-version": "7.0"}`,
		"main.js": `import { createResponse } from 'create-response';
import { ReadableStream } from 'streams';
import { TextEncoder } from 'encoding';
import { logger } from 'log';
export function responseProvider(request) {
  logger.log('made %s', request.path);
  if (request.query === 'fail') throw new Error('rp broke');
  if (request.query === 'stream') {
    const enc = new TextEncoder();
    return createResponse(200, { 'Content-Type': 'text/plain' }, new ReadableStream({ start(c) { c.enqueue(enc.encode('one,')); c.enqueue(enc.encode('two')); c.close(); } }));
  }
  return createResponse(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'max-age=60' }, 'made at ' + request.path);
}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	app := newEchoOrigin(t, "app")
	tg := startGateway(t, fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
pools: [{name: app, members: [%q]}]
cache: {}
scripts:
  bundles: [{name: rp, path: %q}]
routes:
  - {name: rp, match: {path_prefix: /rp}, pool: app, cache: {}, script: {bundle: rp, debug_token_env: EW_RP_DEBUG}}
`, app.URL, dir))
	debug := map[string]string{"Pragma": "akamai-x-ew-debug-rp", "Akamai-EW-Trace": "rp-token"}
	parts := func(t *testing.T, resp *http.Response, body string) []string {
		t.Helper()
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/mixed" {
			t.Fatalf("Content-Type %q (%v), want multipart/mixed; body %s", resp.Header.Get("Content-Type"), err, body)
		}
		mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
		var out []string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part %d: %v (body %q)", len(out), err, body)
			}
			b, _ := io.ReadAll(p)
			out = append(out, p.Header.Get("Content-Type")+"\n"+string(b))
		}
		if len(out) != 2 {
			t.Fatalf("%d parts, want 2: %q", len(out), out)
		}
		return out
	}

	// A plain request fills the cache; the second one is a hit.
	if resp, body := scriptGet(t, tg.url("/rp/a"), nil); resp.StatusCode != 200 || body != "made at /rp/a" {
		t.Fatalf("plain: %d %q", resp.StatusCode, body)
	}
	if resp, body := scriptGet(t, tg.url("/rp/a"), nil); body != "made at /rp/a" || !strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
		t.Fatalf("second plain request: Cache-Status %q body %q, want a hit", resp.Header.Get("Cache-Status"), body)
	}

	t.Run("success", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/rp/a"), debug)
		if resp.StatusCode != 200 || strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
			t.Fatalf("status %d Cache-Status %q: the debug request must not be served from the cache", resp.StatusCode, resp.Header.Get("Cache-Status"))
		}
		p := parts(t, resp, body)
		if p[0] != "text/plain\nmade at /rp/a" {
			t.Errorf("first part %q", p[0])
		}
		for _, want := range []string{"X-Akamai-EdgeWorker-ResponseProvider-Info: ew=rp v7.0:rp; status=Success", "cpu_time=", "X-Akamai-EdgeWorker-ResponseProvider-Log: D:", "AK_EDGEWORKERS_RP_STATUS: success"} {
			if !strings.Contains(p[1], want) {
				t.Errorf("debug part lacks %q:\n%s", want, p[1])
			}
		}
		if resp.Header.Get("X-Akamai-EdgeWorker-ResponseProvider-Info") != "" {
			t.Error("the responseProvider Info is in the header too; it belongs in the body")
		}
		// The multipart answer was not stored: a plain request still gets
		// the plain cached body.
		resp, body = scriptGet(t, tg.url("/rp/a"), nil)
		if body != "made at /rp/a" || strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/") {
			t.Errorf("after debugging, plain request: %q %q", resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("failure is shown, not forwarded", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/rp/b?fail"), debug)
		p := parts(t, resp, body)
		if resp.StatusCode != 200 || p[0] != "\n" {
			t.Errorf("status %d first part %q, want 200 and an empty part", resp.StatusCode, p[0])
		}
		for _, want := range []string{"status=runtimeError", "rp broke", "AK_EDGEWORKERS_RP_STATUS: success"} {
			if !strings.Contains(p[1], want) {
				t.Errorf("debug part lacks %q:\n%s", want, p[1])
			}
		}
		// Without debugging a failure falls back to the origin.
		if _, body := scriptGet(t, tg.url("/rp/b?fail"), nil); !strings.Contains(body, `"path":"/rp/b"`) {
			t.Errorf("plain failure: %s, want the origin's echo", body)
		}
	})
	t.Run("stream", func(t *testing.T) {
		resp, body := scriptGet(t, tg.url("/rp/c?stream"), debug)
		p := parts(t, resp, body)
		if p[0] != "text/plain\none,two" || !strings.Contains(p[1], "status=Success") {
			t.Errorf("parts %q", p)
		}
	})
	t.Run("without the token nothing changes", func(t *testing.T) {
		for _, hdr := range []map[string]string{
			{"Pragma": "akamai-x-ew-debug-rp"},
			{"Pragma": "akamai-x-ew-debug-rp", "Akamai-EW-Trace": "wrong"},
			{"Pragma": "akamai-x-ew-debug", "Akamai-EW-Trace": "rp-token"},
		} {
			resp, body := scriptGet(t, tg.url("/rp/d"), hdr)
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/") || body != "made at /rp/d" || strings.Contains(body, "AK_EDGEWORKERS") {
				t.Errorf("%v: %q %q", hdr, resp.Header.Get("Content-Type"), body)
			}
		}
	})
}

// gateJS refuses in onOriginRequest (?deny) and otherwise passes.
const gateJS = `
export function onOriginRequest(request) {
  if (request.query === 'deny') request.respondWith(403, {}, 'no');
}`

// TestScriptDenyAudited: a request an edge script refuses (respondWith
// 401/403 in onClientRequest or onOriginRequest, or a failed handler) is
// a script.deny record naming bundle, version and handler, with the
// token's fingerprint and never the token; the access log's
// script_status and script_ms say how the script ran.
func TestScriptDenyAudited(t *testing.T) {
	app := newEchoOrigin(t, "app")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	gate := writeBundle(t, "3.1", gateJS)
	tg := startGateway(t, fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
pools: [{name: app, members: [%q]}]
audit:
  sinks: [{type: file, path: %q}]
scripts:
  bundles:
    - {name: jwt, path: %q}
    - {name: limits, path: %q, tier: basic}
    - {name: gate, path: %q}
routes:
  - {name: jwt, match: {path_prefix: /jwt}, pool: app, script: {bundle: jwt, variables: {PMUSER_JWT_PUBKEY: %q}}}
  - {name: limits, match: {path_prefix: /limits}, pool: app, script: {bundle: limits}}
  - {name: lenient, match: {path_prefix: /lenient}, pool: app, script: {bundle: limits, continue_on_error: true}}
  - {name: gate, match: {path_prefix: /gate}, pool: app, script: {bundle: gate}}
  - {name: plain, match: {path_prefix: /}, pool: app}
`, app.URL, auditFile, bundlePath(t, "jwt-es256"), bundlePath(t, "limits"), gate, pubPEM))

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged := es256Token(t, other, `{"sub":"mallory","exp":4102444800}`)
	good := es256Token(t, key, `{"sub":"alice","exp":4102444800}`)
	type want struct {
		status       int
		scriptStatus string
		// deny is the expected script.deny record ("" for none):
		// decision, reason and rule.
		decision, reason, rule string
		token                  string
	}
	cases := []struct {
		name, path string
		hdr        map[string]string
		want       want
	}{
		{"valid token", "/jwt/x", map[string]string{"Authorization": "Bearer " + good}, want{200, "ok", "", "", "", ""}},
		{"forged token", "/jwt/x", map[string]string{"Authorization": "Bearer " + forged}, want{401, "responded", "deny", "script_respond_401", "jwt@1.0.onClientRequest", forged}},
		{"handler throws", "/limits/?throw", nil, want{500, "error", "fail", "script_error", "limits@1.0.onClientRequest", ""}},
		{"cpu limit", "/limits/?loop", nil, want{500, "timeout", "fail", "script_error", "limits@1.0.onClientRequest", ""}},
		{"continue on error", "/lenient/?throw", nil, want{200, "error", "", "", "", ""}},
		{"onOriginRequest refuses", "/gate/?deny", nil, want{403, "responded", "deny", "script_respond_403", "gate@3.1.onOriginRequest", ""}},
		{"onOriginRequest passes", "/gate/?ok", nil, want{200, "ok", "", "", "", ""}},
		{"no script", "/other", nil, want{200, "", "", "", "", ""}},
	}
	ids := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := scriptGet(t, tg.url(tc.path), tc.hdr)
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want.status, body)
			}
			id := resp.Header.Get(RequestIDHeader)
			ids[tc.name] = id
			line := accessLine(t, tg, id)
			if line["script_status"] != tc.want.scriptStatus {
				t.Errorf("access log script_status %v, want %q", line["script_status"], tc.want.scriptStatus)
			}
			if ms, _ := line["script_ms"].(float64); (tc.want.scriptStatus == "") != (ms == 0) {
				t.Errorf("access log script_ms %v with script_status %q", line["script_ms"], tc.want.scriptStatus)
			}
		})
	}
	tg.stop()

	byID := map[string]audit.Event{}
	for _, e := range readAudit(t, auditFile, 1) {
		if e.Kind == audit.KindScriptDeny {
			byID[e.RequestID] = e
		}
	}
	for _, tc := range cases {
		e, ok := byID[ids[tc.name]]
		if tc.want.decision == "" {
			if ok {
				t.Errorf("%s: unexpected script.deny record %+v", tc.name, e)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no script.deny record for request %s", tc.name, ids[tc.name])
			continue
		}
		if e.Decision != tc.want.decision || e.Reason != tc.want.reason || e.Rule != tc.want.rule ||
			e.ClientIP != "127.0.0.1" || e.Route == "" || e.Method != "GET" {
			t.Errorf("%s: record %+v; want decision %s, reason %s, rule %s", tc.name, e, tc.want.decision, tc.want.reason, tc.want.rule)
		}
		if tc.want.token != "" && e.Fingerprint != identity.Fingerprint(tc.want.token) {
			t.Errorf("%s: fingerprint %q, want the token's %q", tc.name, e.Fingerprint, identity.Fingerprint(tc.want.token))
		}
	}
	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	sig := forged[strings.LastIndexByte(forged, '.')+1:]
	for _, secret := range []string{forged, good, sig} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the audit file holds a token or its signature %q", secret)
		}
	}
}

// TestScriptDenyFailClosed: under audit.policy fail_closed, when the
// refusal cannot be recorded (the collector is down and the spool full),
// the answer is the 503 audit.unavailable, not the script's.
func TestScriptDenyFailClosed(t *testing.T) {
	t.Parallel() // waits out the trail's close timeout (its collector is down)
	app := newEchoOrigin(t, "app")
	gate := writeBundle(t, "1", `export function onClientRequest(r) { if (r.query === 'deny') r.respondWith(403, {}, 'no'); }`)
	tg := startGateway(t, fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
pools: [{name: app, members: [%q]}]
audit:
  policy: fail_closed
  spool: {dir: %q, max_bytes: 4KiB}
  sinks: [{name: siem, type: http, url: "http://%s/"}]
scripts:
  bundles: [{name: gate, path: %q}]
routes: [{name: gate, match: {path_prefix: /}, pool: app, script: {bundle: gate}}]
`, app.URL, filepath.Join(t.TempDir(), "spool"), deadAddr(t), gate))
	var resp *http.Response
	var body string
	for range 60 {
		if resp, body = scriptGet(t, tg.url("/?deny"), nil); resp.StatusCode != http.StatusForbidden {
			break
		}
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "audit.unavailable") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with a full spool the refusal answered %d %q (Retry-After %q), want 503 audit.unavailable", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	// What the script lets through needs no record.
	if resp, _ := scriptGet(t, tg.url("/?pass"), nil); resp.StatusCode != 200 {
		t.Errorf("a request the script passes: %d", resp.StatusCode)
	}
}
