package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/testpeer"
)

// lockedBuffer lets a test read output that is still being written.
type lockedBuffer = testpeer.Buffer

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `version: 1
listeners: [{address: "127.0.0.1:8080"}]
pools:
  - name: app
    members: [http://127.0.0.1:9000]
routes:
  - name: api
    match: {hosts: [api.example.com], path_prefix: /api, methods: [GET]}
    pool: app
  - name: site
    match: {path_prefix: /}
    pool: app
`

func TestValidate(t *testing.T) {
	good := writeFile(t, "good.yaml", goodConfig)
	code, out, errOut := runCmd(t, "validate", good)
	if code != 0 || !strings.Contains(out, "ok (1 listeners, 1 pools, 2 routes)") {
		t.Fatalf("validate good: code %d out %q err %q", code, out, errOut)
	}

	bad := writeFile(t, "bad.yaml", strings.Replace(strings.Replace(goodConfig, "pool: app\n  - name: site", "pool: nope\n  - name: site", 1), "path_prefix: /api", "path_prefx: /api", 1))
	code, _, errOut = runCmd(t, "validate", bad)
	if code != 1 {
		t.Fatalf("validate bad: code %d, want 1; stderr %q", code, errOut)
	}
	// Every error, each with file:line:column and the field path.
	for _, want := range []string{bad + ":8:", "routes[0].match", "path_prefx", bad + ":9:", "routes[0].pool", "nope"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut)
		}
	}

	overlap := writeFile(t, "overlap.yaml", goodConfig+`  - name: site2
    match: {path_prefix: /}
    pool: app
`)
	code, _, errOut = runCmd(t, "validate", overlap)
	if code != 1 || !strings.Contains(errOut, `"site"`) || !strings.Contains(errOut, "routes[2]") {
		t.Errorf("overlapping routes: code %d, stderr %q", code, errOut)
	}

	code, _, errOut = runCmd(t, "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing file: code %d, stderr %q", code, errOut)
	}
}

func TestRouteExplain(t *testing.T) {
	file := writeFile(t, "c.yaml", goodConfig)
	code, out, errOut := runCmd(t, "route", "-c", file, "http://api.example.com/api/users/7")
	if code != 0 || !strings.Contains(out, `"api"`) {
		t.Fatalf("route api: code %d out %q err %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, "route", "-c", file, "-m", "POST", "http://api.example.com/api/users/7")
	if code != 0 || !strings.Contains(out, `"site"`) || !strings.Contains(out, "POST") {
		t.Errorf("route POST should fall to site and say why api did not match: code %d out %q", code, out)
	}
	// The URL is normalized as the gateway would before matching.
	code, out, _ = runCmd(t, "route", "-c", file, "http://api.example.com/x/../api/users")
	if code != 0 || !strings.Contains(out, `"api"`) {
		t.Errorf("normalized path: code %d out %q", code, out)
	}
	code, _, errOut = runCmd(t, "route", "-c", file, "not a url")
	if code != 2 || errOut == "" {
		t.Errorf("bad URL: code %d err %q", code, errOut)
	}
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "edgegate ") {
		t.Errorf("version: %d %q", code, out)
	}
	code, _, errOut := runCmd(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, "unknown command") || !strings.Contains(errOut, "serve -c FILE") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
}

// freeAddr is a loopback address for a server told its address before it
// binds (see testpeer.FreeAddr for why not port 0).
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testpeer.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestDev starts `edgegate dev` as a newcomer would and follows the banner's
// first examples.
func TestDev(t *testing.T) {
	gw, adm, org, prov := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	auditDir := t.TempDir()
	devArgs := []string{"--listen", gw, "--admin", adm, "--origin", org, "--provider", prov, "--audit-dir", auditDir}
	go func() {
		done <- run(ctx, append([]string{"dev"}, devArgs...), &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "edgegate dev is running") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("dev did not start; stdout %q stderr %q", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	get := func(path string) (int, string, http.Header) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get("http://" + gw + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, _ := get("/hello"); code != 200 || !strings.Contains(body, `"path": "/hello"`) {
		t.Errorf("/hello: %d %s", code, body)
	}
	if code, body, h := get("/api/users?id=7"); code != 200 || !strings.Contains(body, `"path": "/v1/users"`) || h.Get("X-Served-By") != "edgegate" {
		t.Errorf("/api/users: %d %s %v", code, body, h)
	}
	if code, _, h := get("/old-docs/intro?x=1"); code != 301 || h.Get("Location") != "/docs?x=1" {
		t.Errorf("/old-docs: %d Location %q", code, h.Get("Location"))
	}
	if code, _, _ := get("/a%2fb"); code != 400 {
		t.Errorf("encoded slash: %d", code)
	}
	// The README's identity walk-through: a dev token, an authenticated API
	// call, and the demo origin showing the identity it verified from the
	// gateway's signed assertion with pkg/verifier.
	_, devCfg, _ := runCmd(t, append([]string{"dev", "--print-config"}, devArgs...)...)
	cfgFile := writeFile(t, "dev.yaml", devCfg)
	code, tok, tokErr := runCmd(t, "token", "--user", "alice", "-c", cfgFile)
	if code != 0 {
		t.Fatalf("token: %d %s", code, tokErr)
	}
	req, _ := http.NewRequest("GET", "http://"+gw+"/api/private/orders", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"verified_identity"`) || !strings.Contains(string(body), `"Subject": "alice"`) {
		t.Errorf("authenticated call: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), strings.TrimSpace(tok)) {
		t.Error("the demo origin page shows the token")
	}
	if code, _, _ := get("/api/private/orders"); code != 401 {
		t.Errorf("without a token: %d, want 401", code)
	}
	resp, err = http.Get("http://" + adm + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("admin metrics: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("dev exited %d; stderr %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dev did not stop")
	}
	// The banner's audit walk-through: the trail holds the decisions above
	// and verifies; one deny turned into an allow is caught, with its line.
	code, vout, verr := runCmd(t, "audit", "verify", auditDir)
	if code != 0 || !strings.Contains(vout, "OK: 1 file(s)") {
		t.Errorf("audit verify of the dev trail: exit %d\n%s%s", code, vout, verr)
	}
	trail, err := os.ReadFile(filepath.Join(auditDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(trail, []byte(`"kind":"authn.failure"`)) || !bytes.Contains(trail, []byte(`"subject":"alice"`)) {
		t.Errorf("the dev trail lacks the 401 and alice's allow:\n%s", trail)
	}
	tampered := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(tampered, bytes.Replace(trail, []byte(`"decision":"deny"`), []byte(`"decision":"allow"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, vout, _ := runCmd(t, "audit", "verify", tampered); code != 1 || !strings.Contains(vout, "hash: the record was changed") {
		t.Errorf("a tampered dev trail: exit %d\n%s", code, vout)
	}

	code, _, errStr := runCmd(t, "dev", "--listen", "0.0.0.0:8080")
	if code != 2 || !strings.Contains(errStr, "loopback") {
		t.Errorf("non-loopback dev: %d %q", code, errStr)
	}
}
