package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
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

// devRun is an `edgegate dev` process started by a test.
type devRun struct {
	gw, adm, org, prov string
	auditDir           string
	args               []string // the address flags, for --print-config
	out, errOut        *lockedBuffer
	cancel             context.CancelFunc
	done               chan int
}

// startDev runs `edgegate dev` with free loopback addresses and extra
// arguments, and waits for its banner.
func startDev(t *testing.T, extra ...string) *devRun {
	t.Helper()
	d := &devRun{gw: freeAddr(t), adm: freeAddr(t), org: freeAddr(t), prov: freeAddr(t), auditDir: t.TempDir(),
		out: &lockedBuffer{}, errOut: &lockedBuffer{}, done: make(chan int, 1)}
	d.args = []string{"--listen", d.gw, "--admin", d.adm, "--origin", d.org, "--provider", d.prov, "--audit-dir", d.auditDir}
	var ctx context.Context
	ctx, d.cancel = context.WithCancel(context.Background())
	args := append(append([]string{"dev"}, d.args...), extra...)
	go func() { d.done <- run(ctx, args, d.out, d.errOut) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.out.String(), "edgegate dev is running") {
		if time.Now().After(deadline) {
			d.cancel()
			t.Fatalf("dev did not start; stdout %q stderr %q", d.out.String(), d.errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(d.cancel)
	return d
}

// stop ends the process and checks it exits cleanly.
func (d *devRun) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		if code != 0 {
			t.Errorf("dev exited %d; stderr %s", code, d.errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dev did not stop")
	}
}

// token mints a dev token from the running process's provider, as
// `edgegate token --user NAME -c <(edgegate dev --print-config ...)`.
func (d *devRun) token(t *testing.T, user string) string {
	t.Helper()
	_, devCfg, _ := runCmd(t, append([]string{"dev", "--print-config"}, d.args...)...)
	cfgFile := writeFile(t, "dev.yaml", devCfg)
	code, tok, tokErr := runCmd(t, "token", "--user", user, "-c", cfgFile)
	if code != 0 {
		t.Fatalf("token --user %s: %d %s", user, code, tokErr)
	}
	return strings.TrimSpace(tok)
}

// call sends method path to the gateway with the token (if any) and
// returns the status and body.
func (d *devRun) call(t *testing.T, method, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+d.gw+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// browserLogin does what a browser does from GET path to the page behind
// the login, without a browser: follows redirects to the dev provider,
// posts its user picker for user, and comes back through the gateway's
// callback. It returns the gateway's cookies (the session) and the page.
func browserLogin(t *testing.T, gw, path, user string) ([]*http.Cookie, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	jar := map[string]*http.Cookie{}
	next := "http://" + gw + path
	var form url.Values
	for range 12 {
		var req *http.Request
		if form != nil {
			req, _ = http.NewRequest(http.MethodPost, next, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			form = nil
		} else {
			req, _ = http.NewRequest(http.MethodGet, next, nil)
		}
		req.Header.Set("Accept", "text/html")
		if req.URL.Host == gw {
			for _, ck := range jar {
				req.AddCookie(ck)
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, next, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if req.URL.Host == gw {
			for _, ck := range resp.Cookies() {
				if ck.MaxAge < 0 || ck.Value == "" {
					delete(jar, ck.Name)
				} else {
					jar[ck.Name] = ck
				}
			}
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatalf("redirect from %s: %v", next, err)
			}
			next = loc.String()
		case resp.StatusCode == http.StatusOK && req.URL.Host != gw && strings.Contains(string(body), `name=authRequestID`):
			// The dev provider's user picker (DEVELOPMENT ONLY on the page).
			if !strings.Contains(string(body), "DEVELOPMENT ONLY") || !strings.Contains(string(body), `value="`+user+`"`) {
				t.Fatalf("picker page:\n%s", body)
			}
			form = url.Values{"authRequestID": {req.URL.Query().Get("authRequestID")}, "user": {user}}
			next = req.URL.Scheme + "://" + req.URL.Host + "/login"
		case resp.StatusCode == http.StatusOK && req.URL.Host == gw && req.URL.Path == path:
			var cookies []*http.Cookie
			for _, ck := range jar {
				cookies = append(cookies, ck)
			}
			return cookies, string(body)
		default:
			t.Fatalf("login: %s %s: %d\n%s", req.Method, next, resp.StatusCode, body)
		}
	}
	t.Fatalf("login: too many steps, last %s", next)
	return nil, ""
}

// TestDev starts `edgegate dev` as a newcomer would and follows the banner's
// first examples.
func TestDev(t *testing.T) {
	d := startDev(t)
	gw, adm, auditDir := d.gw, d.adm, d.auditDir
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
	tok := d.token(t, "alice")
	code, body := d.call(t, "GET", "/api/private/orders", tok)
	if code != 200 || !strings.Contains(body, `"verified_identity"`) || !strings.Contains(body, `"Subject": "alice"`) {
		t.Errorf("authenticated call: %d %s", code, body)
	}
	if strings.Contains(body, tok) {
		t.Error("the demo origin page shows the token")
	}
	if code, _, _ := get("/api/private/orders"); code != 401 {
		t.Errorf("without a token: %d, want 401", code)
	}

	// The banner's browser login, without a browser: /app/ sends us to the
	// dev provider (the dev configuration's public, PKCE-only client), we
	// pick alice, and the callback brings us back to /app/ with a session.
	cookies, page := browserLogin(t, gw, "/app/", "alice")
	if !strings.Contains(page, "Verified identity") || !strings.Contains(page, "alice") {
		t.Errorf("/app/ after login does not show the verified identity:\n%s", page)
	}
	var session *http.Cookie
	for _, ck := range cookies {
		if strings.HasPrefix(ck.Name, "__Host-") && ck.HttpOnly && ck.Secure {
			session = ck
		}
	}
	if session == nil {
		t.Fatalf("no __Host- session cookie after login: %v", cookies)
	}
	for _, p := range []struct{ path, want string }{
		{"/.edgegate/whoami", `"subject":"alice"`},
		{"/app/orders", `"Method": "session"`},
	} {
		req, _ := http.NewRequest("GET", "http://"+gw+p.path, nil)
		req.AddCookie(session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), p.want) || strings.Contains(string(b), session.Value) {
			t.Errorf("%s with the session: %d\n%s", p.path, resp.StatusCode, b)
		}
	}

	resp, err := http.Get("http://" + adm + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("admin metrics: %d", resp.StatusCode)
	}

	// The banner's audit line, while dev runs: the checkpoints verify
	// against the running gateway's JWKS. A checkpoint follows every 100
	// records (or 10 s), so make 100 refusals.
	for range 100 {
		if code, _, _ := get("/api/private/orders"); code != 401 {
			t.Fatalf("without a token: %d", code)
		}
	}
	jwks := "http://" + gw + "/.well-known/edgegate/jwks.json"
	var vout, verr string
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, vout, verr = runCmd(t, "audit", "verify", "--jwks", jwks, auditDir)
		m := regexp.MustCompile(`(\d+) of (\d+) signatures valid`).FindStringSubmatch(vout)
		if code == 0 && m != nil && m[1] == m[2] && m[1] != "0" {
			t.Logf("audit verify --jwks while dev runs: %s", vout)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit verify --jwks of the running dev trail: exit %d\n%s%s", code, vout, verr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop(t)

	// The banner's audit walk-through: the trail holds the decisions above
	// and verifies; one deny turned into an allow is caught, with its line.
	code, vout, verr = runCmd(t, "audit", "verify", auditDir)
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

// TestDevWithFile runs the README's worked example: examples/dev/policy.yaml
// under `edgegate dev -c`, called with dev tokens of a user who has the
// role and one who does not.
func TestDevWithFile(t *testing.T) {
	const file = "../../examples/dev/policy.yaml"
	d := startDev(t, "-c", file)
	banner := d.out.String()
	for _, want := range []string{
		"edgegate dev is running " + file, `pool "demo": the demo origin at ` + d.org + " (replaces the file's)",
		`issuer "dev": the dev provider (replaces the file's)`, "login: at the dev provider, client edgegate",
		"Routes of " + file, "  orders  /orders  bearer_or_session  2 allow, 1 deny  pool demo", "curl -s -H \"Authorization: Bearer $TOKEN\" http://" + d.gw + "/orders",
		"edgegate policy test " + file, "audit verify --jwks http://" + d.gw + "/.well-known/edgegate/jwks.json",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "/ew/") {
		t.Errorf("the banner of -c shows the built-in examples:\n%s", banner)
	}
	alice, bob := d.token(t, "alice"), d.token(t, "bob")
	tests := []struct {
		name, method, path, token string
		code                      int
		want                      []string
	}{
		{"alice is an admin (groups)", "GET", "/admin/users", alice, 200, []string{`"Subject": "alice"`, `"admin"`, `"Audience": "demo"`, `"Issuer": "edgegate"`}},
		{"bob is not", "GET", "/admin/users", bob, 403, []string{"no_allow_rule"}},
		{"bob reads orders", "GET", "/orders/42", bob, 200, []string{`"Subject": "bob"`, `"staff"`, `"path": "/orders/42"`}},
		{"bob cannot write", "POST", "/orders/42", bob, 403, []string{"no_allow_rule"}},
		{"alice writes as an editor (token role)", "POST", "/orders/42", alice, 200, []string{`"Subject": "alice"`, `"editor"`}},
		{"deny wins, even for alice", "DELETE", "/orders/closed/7", alice, 403, []string{"denied_by"}},
		{"no token", "GET", "/orders/42", "", 401, nil},
		{"public route", "GET", "/hello", "", 200, []string{`"path": "/hello"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := d.call(t, tt.method, tt.path, tt.token)
			if code != tt.code {
				t.Fatalf("%s %s: %d, want %d\n%s", tt.method, tt.path, code, tt.code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s: body lacks %s:\n%s", tt.method, tt.path, w, body)
				}
			}
			if tt.code == 200 && tt.token != "" && (!strings.Contains(body, `"verified_identity"`) || strings.Contains(body, "assertion_error")) {
				t.Errorf("the demo origin did not verify the assertion:\n%s", body)
			}
		})
	}
	// The file's policy decided: its rule names are in the audit trail.
	d.stop(t)
	trail, err := os.ReadFile(filepath.Join(d.auditDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{`"rule":"admins-only"`, `"rule":"closed-is-read-only"`, `"rule":"editors-write"`} {
		if !bytes.Contains(trail, []byte(rule)) {
			t.Errorf("the trail lacks %s", rule)
		}
	}
}

// TestDevWithFileErrors: problems in the file are reported at its lines,
// before anything listens.
func TestDevWithFileErrors(t *testing.T) {
	src, err := os.ReadFile("../../examples/dev/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := writeFile(t, "bad.yaml", strings.Replace(string(src), "    pool: demo\n    auth: {mode: bearer_or_session}\n    allow:\n      - name: admins-only", "    pool: nope\n    auth: {mode: bearer_or_session}\n    allow:\n      - name: admins-only", 1))
	line := 0
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "name: admin\n") || l == "  - name: admin" {
			line = i + 3 // the pool line, 1-based
		}
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown pool", []string{"-c", bad}, 1, []string{fmt.Sprintf("%s:%d:", bad, line), "routes[1].pool", "nope"}},
		{"unknown field", []string{"-c", writeFile(t, "typo.yaml", strings.Replace(string(src), "tests_file:", "test_file:", 1))}, 1, []string{"test_file", "tests_file"}},
		{"missing file", []string{"-c", filepath.Join(t.TempDir(), "none.yaml")}, 1, []string{"none.yaml"}},
		{"print-config with -c", []string{"-c", bad, "--print-config"}, 2, []string{"--print-config"}},
		{"stray argument", []string{"policy.yaml"}, 2, []string{"-c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, append([]string{"dev", "--listen", freeAddr(t)}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	if code, _, errOut := runCmd(t, "dev", "-h"); code != 0 || !strings.Contains(errOut, `pool "demo"`) || !strings.Contains(errOut, "-force-provider") {
		t.Errorf("dev -h: %d\n%s", code, errOut)
	}
}

// TestDevForceProvider: the dev provider stays on loopback unless forced,
// and a forced one is announced loudly and still works (issue #3 item 9).
func TestDevForceProvider(t *testing.T) {
	_, port, _ := net.SplitHostPort(freeAddr(t))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"not forced", []string{"--provider", "0.0.0.0:" + port}, "--force-provider"},
		{"forced, but not a wildcard", []string{"--provider", "192.0.2.1:" + port, "--force-provider"}, "wildcard address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, append([]string{"dev", "--listen", freeAddr(t)}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "loopback") {
				t.Errorf("exit %d\n%s", code, errOut)
			}
		})
	}

	d := startDev(t, "--provider", "0.0.0.0:"+port, "--force-provider")
	for name, s := range map[string]string{"stdout": d.out.String(), "stderr": d.errOut.String()} {
		if !strings.Contains(s, "WARNING: --force-provider") || !strings.Contains(s, "NOT only on loopback") || !strings.Contains(s, "0.0.0.0:"+port) {
			t.Errorf("%s lacks the warning:\n%s", name, s)
		}
	}
	// The gateway reaches the provider over loopback: a token it minted
	// (issuer http://127.0.0.1:PORT) is accepted.
	d.prov = "127.0.0.1:" + port
	d.args[7] = d.prov
	code, body := d.call(t, "GET", "/api/private/orders", d.token(t, "alice"))
	if code != 200 || !strings.Contains(body, `"Subject": "alice"`) {
		t.Errorf("with a token of the forced provider: %d\n%s", code, body)
	}
	d.stop(t)
}

// TestServeWarnsDevProvider: serve never runs the dev provider, and says
// so instead of ignoring the section.
func TestServeWarnsDevProvider(t *testing.T) {
	cfg := writeFile(t, "c.yaml", fmt.Sprintf(`version: 1
listeners: [{address: %q}]
admin: {address: "off"}
pools: [{name: app, members: [http://127.0.0.1:9]}]
routes: [{name: site, match: {path_prefix: /}, pool: app}]
dev_provider:
  address: 127.0.0.1:9400
  force: true
  users: [{name: alice}]
  clients: [{id: edgegate, redirect_uris: ["http://127.0.0.1:8080/.edgegate/callback"]}]
`, freeAddr(t)))
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "-c", cfg}, &out, &errOut) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errOut.String(), "edgegate serving") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, errOut.String())
	}
	if s := errOut.String(); !strings.Contains(s, "WARNING: "+cfg+": the dev_provider section is ignored") || !strings.Contains(s, "edgegate dev") {
		t.Errorf("serve did not warn about dev_provider:\n%s", s)
	}
}
