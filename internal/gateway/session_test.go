package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/devidp"
	"github.com/edgegate/edgegate/internal/testpeer"
)

// e2eDir is the node project with playwright-core and oidc-provider.
func e2eDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "e2e")
	for _, need := range []string{filepath.Join(dir, "node_modules", "playwright-core"), filepath.Join(dir, "node_modules", "oidc-provider"), "/usr/bin/chromium"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s is missing: run scripts/test-all (it installs chromium and runs npm ci --prefix e2e)", need)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is missing: run scripts/test-all")
	}
	return dir
}

// loginFreePort reserves a loopback port for a server whose address must be
// known before it starts (redirect URIs name it).
func loginFreePort(t *testing.T) string {
	t.Helper()
	addr, err := testpeer.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startDevIDP runs the embedded provider on loopback.
func startDevIDP(t *testing.T, gatewayAddr string, lifetime time.Duration) *devidp.Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.DevProvider{
		Address: ln.Addr().String(),
		Issuer:  "http://" + ln.Addr().String(),
		Users: []config.DevUser{
			{Name: "alice", Email: "alice@example.com", Groups: []string{"dev", "admins"}, Roles: []string{"editor"}},
			{Name: "bob", Email: "bob@example.com", Password: "hunter2"},
		},
		Clients:       []config.DevClient{{ID: "edgegate", Secret: "dev-secret", RedirectURIs: []string{"http://" + gatewayAddr + "/.edgegate/callback"}}},
		TokenLifetime: lifetime,
	}
	p, err := devidp.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// loginOrigin answers with the identity headers it received.
func loginOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><p id=origin>origin saw %s</p><p id=cookies>cookies=%q</p>", r.URL.Path, r.Header.Get("Cookie"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sessionGatewayYAML(gwAddr, origin, issuer, secretFile, extra string) string {
	return fmt.Sprintf(`version: 1
listeners: [{address: "%s"}]
admin: {address: "off"}
pools: [{name: app, members: ["%s"]}]
login:
  issuer: "%s"
  client_id: edgegate
  client_secret_file: "%s"
  scopes: [openid, email, profile, offline_access]
  post_logout_redirect: /
%s
routes:
  - name: app
    match: {path_prefix: /app/}
    pool: app
    auth: {mode: session}
    allow: ['identity.subject != ""']
  - name: public
    pool: app
`, gwAddr, origin, issuer, secretFile, extra)
}

type flowResult struct {
	Error         string
	LoginPageURL  string
	DevOnlyBanner string
	BackURL       string
	AppBody       string
	Cookies       []struct {
		Name, SameSite, Path, Domain string
		HTTPOnly                     bool `json:"httpOnly"`
		Secure                       bool
		Size                         int
	}
	Subject                 string
	RefreshesBefore         int
	RefreshesAfter          int
	WhoamiHTML              string
	APIStatus               int
	AfterLogoutURL          string
	CookiesAfterLogout      []string
	APIAfterLogout          int
	AfterLogoutProtectedURL string
	Navigations             []string
	Rotated                 struct{ Kid string }
	LogoutConfirmURL        string
}

func runFlow(t *testing.T, dir, base, provider, user, password string, env ...string) flowResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "login-flow.mjs"), base, provider, user, password)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("login-flow.mjs: %v\n%s", err, out)
	}
	var res flowResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("login-flow.mjs output: %v\n%s", err, out)
	}
	if res.Error != "" {
		t.Fatalf("browser flow failed: %s\nnavigations: %v", res.Error, res.Navigations)
	}
	return res
}

// checkFlow asserts what every provider's browser login must show.
func checkFlow(t *testing.T, res flowResult, base, providerPrefix, wantSub string) {
	t.Helper()
	if !strings.HasPrefix(res.LoginPageURL, providerPrefix) {
		t.Errorf("protected page led to %s, want the provider at %s", res.LoginPageURL, providerPrefix)
	}
	if res.BackURL != base+"/app/hello?x=1" {
		t.Errorf("after login the browser is at %s, want the page it asked for", res.BackURL)
	}
	if !strings.Contains(res.AppBody, "origin saw /app/hello") {
		t.Errorf("protected page not served after login: %s", res.AppBody)
	}
	var found bool
	for _, c := range res.Cookies {
		if c.Name != "__Host-edgegate" {
			continue
		}
		found = true
		if !c.HTTPOnly || !c.Secure || c.SameSite != "Lax" || c.Path != "/" || c.Size > 200 {
			t.Errorf("session cookie attributes: %+v", c)
		}
	}
	if !found {
		t.Errorf("no __Host-edgegate cookie in the browser (Chromium refused it?): %+v", res.Cookies)
	}
	if res.Subject != wantSub {
		t.Errorf("whoami subject %q, want %q", res.Subject, wantSub)
	}
	if strings.Contains(res.WhoamiHTML, "eyJ") {
		t.Errorf("whoami page holds something like a JWT")
	}
	for _, u := range res.Navigations {
		if strings.HasPrefix(u, base) && !strings.HasPrefix(u, base+"/.edgegate/callback?") && (strings.Contains(u, "eyJ") || strings.Contains(u, "access_token")) {
			t.Errorf("a gateway URL carries a token: %s", u)
		}
	}
	if res.RefreshesAfter <= res.RefreshesBefore {
		t.Errorf("session did not refresh: refreshes %d then %d", res.RefreshesBefore, res.RefreshesAfter)
	}
	if res.APIStatus != http.StatusOK {
		t.Errorf("fetch from the page with the session: status %d", res.APIStatus)
	}
	for _, n := range res.CookiesAfterLogout {
		if n == "__Host-edgegate" {
			t.Errorf("session cookie still present after logout")
		}
	}
	if res.APIAfterLogout != http.StatusUnauthorized {
		t.Errorf("API call after logout: status %d, want 401", res.APIAfterLogout)
	}
	if !strings.HasPrefix(res.AfterLogoutProtectedURL, providerPrefix) {
		t.Errorf("after logout the protected page led to %s, want the provider's login", res.AfterLogoutProtectedURL)
	}
}

func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestBrowserLoginDevProvider: Chromium logs in through the embedded
// provider, gets the page it asked for, refreshes, and logs out
// (RP-initiated).
func TestBrowserLoginDevProvider(t *testing.T) {
	t.Parallel()
	dir := e2eDir(t)
	gwAddr := loginFreePort(t)
	idp := startDevIDP(t, gwAddr, 3*time.Second)
	origin := loginOrigin(t)
	src := sessionGatewayYAML(gwAddr, origin.URL, idp.Issuer(), writeSecret(t, "dev-secret"),
		"  session: {refresh_before: 2500ms, idle_timeout: 10m}")
	tg := startGateway(t, src)
	base := "http://" + gwAddr
	res := runFlow(t, dir, base, "devidp", "alice", "")
	checkFlow(t, res, base, idp.Issuer()+"/login", "alice")
	if !strings.Contains(res.DevOnlyBanner, "DEVELOPMENT ONLY") {
		t.Errorf("dev provider page lacks the development-only banner: %q", res.DevOnlyBanner)
	}
	if !strings.HasPrefix(res.AfterLogoutURL, base+"/") {
		t.Errorf("RP-initiated logout ended at %s, want the post_logout_redirect on the gateway", res.AfterLogoutURL)
	}
	logs := tg.logs.String()
	for _, secret := range []string{"dev-secret", "eyJ"} {
		if strings.Contains(logs, secret) {
			t.Errorf("gateway logs contain %q", secret)
		}
	}
}

// TestSessionAPICallerGets401 checks the non-browser answers: no redirect
// for API callers, and garbage cookies are a 401 with a reason, not a 500.
func TestSessionAPICallerGets401(t *testing.T) {
	gwAddr := loginFreePort(t)
	idp := startDevIDP(t, gwAddr, time.Minute)
	origin := loginOrigin(t)
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	startGateway(t, sessionGatewayYAML(gwAddr, origin.URL, idp.Issuer(), writeSecret(t, "dev-secret"), "")+
		"audit: {sinks: [{type: file, path: \""+auditFile+"\"}]}\n")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cases := []struct {
		name, accept, cookie string
		want                 int
		wantCode             string
	}{
		{"api without cookie", "application/json", "", 401, "session.missing"},
		{"browser without cookie", "text/html", "", 302, ""},
		{"garbage cookie", "application/json", "__Host-edgegate=garbage", 401, "session.malformed"},
		{"forged cookie", "application/json", "__Host-edgegate=e1-AAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401, "session.bad_cookie"},
		{"huge cookie", "application/json", "__Host-edgegate=" + strings.Repeat("A", 5000), 401, "session.malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+gwAddr+"/app/x", nil)
			req.Header.Set("Accept", c.accept)
			if c.cookie != "" {
				req.Header.Set("Cookie", c.cookie)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.want, body)
			}
			if c.wantCode != "" && !strings.Contains(string(body), `"`+c.wantCode+`"`) {
				t.Errorf("body %s lacks code %s", body, c.wantCode)
			}
			if c.want == 302 && !strings.HasPrefix(resp.Header.Get("Location"), "/.edgegate/login?rd=%2Fapp%2Fx") {
				t.Errorf("Location %q", resp.Header.Get("Location"))
			}
		})
	}
	// The public route is not affected.
	resp, err := http.Get("http://" + gwAddr + "/public")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("public route: %d", resp.StatusCode)
	}
	// Bad callback parameters are 400 with a reason.
	for _, q := range []string{"", "?state=x&code=y", "?error=access_denied", "?state=" + strings.Repeat("%", 3)} {
		resp, err := noRedirect.Get("http://" + gwAddr + "/.edgegate/callback" + q)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), "session.bad_state") {
			t.Errorf("callback%s: %d %s", q, resp.StatusCode, body)
		}
	}
	trail, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"reason":"bad_state"`, `"reason":"malformed"`, `"reason":"bad_cookie"`, `"reason":"missing"`, `"kind":"authn.failure"`} {
		if !strings.Contains(string(trail), want) {
			t.Errorf("audit trail lacks %s:\n%s", want, trail)
		}
	}
	if strings.Contains(string(trail), "garbage") || strings.Contains(string(trail), "AAAAAAAAAAAAAAAAAAAA") {
		t.Errorf("audit trail holds a cookie value")
	}
}

// startOIDCProvider runs the npm oidc-provider (e2e/login-op.mjs) on
// loopback and returns its issuer URL.
func startOIDCProvider(t *testing.T, dir, gatewayBase string) string {
	t.Helper()
	addr := loginFreePort(t)
	for strings.HasSuffix(gatewayBase, "//"+addr) {
		addr = loginFreePort(t)
	}
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "login-op.mjs"), port, gatewayBase)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start oidc-provider: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		n, _ := io.ReadAtLeast(stdout, b, len("ready "))
		ready <- string(b[:n])
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if !strings.HasPrefix(line, "ready ") {
			t.Fatalf("oidc-provider: %q", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("oidc-provider did not start")
	}
	return "http://" + addr
}

// TestBrowserLoginOIDCProvider runs the same browser flow against the npm
// oidc-provider, rotating its signing key between login and refresh: the
// refreshed ID token carries an unknown kid, which makes the gateway
// refetch the provider's keys.
func TestBrowserLoginOIDCProvider(t *testing.T) {
	t.Parallel()
	dir := e2eDir(t)
	gwAddr := loginFreePort(t)
	base := "http://" + gwAddr
	issuer := startOIDCProvider(t, dir, base)
	origin := loginOrigin(t)
	src := sessionGatewayYAML(gwAddr, origin.URL, issuer, writeSecret(t, "op-secret"),
		"  session: {refresh_before: 2500ms}")
	tg := startGateway(t, src)
	res := runFlow(t, dir, base, "oidc-provider", "alice", "", "ROTATE_URL="+issuer+"/__test/rotate", "REFRESH_WAIT_MS=1500")
	checkFlow(t, res, base, issuer+"/", "alice")
	if res.Rotated.Kid == "" {
		t.Errorf("the provider key was not rotated")
	}
	if !strings.HasPrefix(res.LogoutConfirmURL, issuer+"/session/end") {
		t.Errorf("logout did not go through the provider's end_session endpoint: %q", res.LogoutConfirmURL)
	}
	if !strings.HasPrefix(res.AfterLogoutURL, base+"/") {
		t.Errorf("RP-initiated logout ended at %s, want the gateway", res.AfterLogoutURL)
	}
	if strings.Contains(tg.logs.String(), "op-secret") {
		t.Errorf("gateway logs contain the client secret")
	}
}

// loginWithoutBrowser runs the login flow with plain HTTP requests against
// the embedded provider (picking user) and returns the session cookie.
func loginWithoutBrowser(t *testing.T, base, user string) *http.Cookie {
	t.Helper()
	resp, body := loginCallback(t, base, user)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app/x" {
		t.Fatalf("callback: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-edgegate" && ck.Value != "" {
			return ck
		}
	}
	t.Fatal("no session cookie from the callback")
	return nil
}

// noRedirectClient stops at every redirect, as the login tests read them.
var noRedirectClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

// loginCallback runs the login flow against the embedded provider up to
// the gateway's callback and returns its answer, whatever it is.
func loginCallback(t *testing.T, base, user string) (*http.Response, string) {
	t.Helper()
	c := noRedirectClient
	get := func(u string, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", "application/json")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := get(base + "/.edgegate/login?rd=/app/x")
	var state *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-edgegate-login" {
			state = ck
		}
	}
	// At the provider: authorize → picker.
	resp, _ = get(resp.Header.Get("Location"))
	picker, _ := url.Parse(resp.Request.URL.ResolveReference(mustURL(t, resp.Header.Get("Location"))).String())
	form := url.Values{"authRequestID": {picker.Query().Get("authRequestID")}, "user": {user}}
	presp, err := c.PostForm(picker.Scheme+"://"+picker.Host+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	// → /authorize/callback → the gateway's callback.
	resp, _ = get(presp.Request.URL.ResolveReference(mustURL(t, presp.Header.Get("Location"))).String())
	return get(resp.Header.Get("Location"), state)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSessionSurvivesReload: the session store lives on the gateway, so a
// configuration reload keeps everyone logged in; whoami shows no token;
// local logout ends the session.
func TestSessionSurvivesReload(t *testing.T) {
	gwAddr := loginFreePort(t)
	idp := startDevIDP(t, gwAddr, time.Minute)
	origin := loginOrigin(t)
	src := sessionGatewayYAML(gwAddr, origin.URL, idp.Issuer(), writeSecret(t, "dev-secret"), "")
	tg := startGateway(t, src)
	base := "http://" + gwAddr
	cookie := loginWithoutBrowser(t, base, "alice")
	call := func(path, accept string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", accept)
		req.AddCookie(cookie)
		req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := call("/app/x", "application/json"); code != 200 || !strings.Contains(body, "origin saw /app/x") {
		t.Fatalf("with the session: %d %s", code, body)
	} else if !strings.Contains(body, `cookies=&#34;theme=dark&#34;`) && !strings.Contains(body, `cookies="theme=dark"`) {
		// The gateway's session cookie is a credential for the gateway
		// only: the origin gets the other cookies, never that one.
		t.Errorf("origin saw cookies other than theme=dark: %s", body)
	}
	if err := tg.apply(strings.Replace(src, "name: public", "name: public2", 1)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if code, body := call("/app/x", "application/json"); code != 200 {
		t.Fatalf("after reload: %d %s", code, body)
	}
	code, body := call("/.edgegate/whoami", "application/json")
	var who struct {
		Subject, Email string
		Groups         []string
		SessionExpires time.Time `json:"session_expires"`
	}
	if err := json.Unmarshal([]byte(body), &who); code != 200 || err != nil || who.Subject != "alice" || who.Email != "alice@example.com" || len(who.Groups) != 2 || who.SessionExpires.IsZero() {
		t.Fatalf("whoami: %d %s", code, body)
	}
	if strings.Contains(body, "eyJ") || strings.Contains(body, "token\":\"") {
		t.Errorf("whoami shows a token: %s", body)
	}
	if code, body := call("/.edgegate/logout?local=1", "text/html"); code != 200 || !strings.Contains(body, "Signed out") {
		t.Fatalf("local logout: %d %s", code, body)
	}
	if code, _ := call("/app/x", "application/json"); code != 401 {
		t.Fatalf("after logout: %d, want 401", code)
	}
}

// TestLoginProviderUnreachable: a provider that cannot be discovered stops
// the start with an error naming it (and never the client secret).
func TestLoginProviderUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "edgegate.yaml")
	src := sessionGatewayYAML("127.0.0.1:0", "http://127.0.0.1:9", dead, writeSecret(t, "very-secret"), "")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{AccessLog: io.Discard})
	if err == nil {
		g.Close()
		t.Fatal("gateway started without its login provider")
	}
	if !strings.Contains(err.Error(), "login: discover "+dead) || strings.Contains(err.Error(), "very-secret") {
		t.Errorf("error %q", err)
	}
}

// namedLoginYAML is sessionGatewayYAML with login.issuer naming the
// identity issuer "dev" for the provider at issuer (API audience "api";
// issuerExtra adds rules to its entry), and three more routes: /both/
// (bearer_or_session), /bob/ (bearer_or_session, bob only) and /api/
// (bearer).
func namedLoginYAML(gwAddr, origin, issuer, secretFile, issuerExtra string) string {
	src := sessionGatewayYAML(gwAddr, origin, "dev", secretFile,
		fmt.Sprintf("identity:\n  issuers:\n    - {name: dev, issuer: %q, audiences: [api]%s}\n", issuer, issuerExtra))
	return strings.Replace(src, "  - name: public\n", `  - name: both
    match: {path_prefix: /both/}
    pool: app
    auth: {mode: bearer_or_session}
    allow: ['identity.subject != ""']
  - name: bob
    match: {path_prefix: /bob/}
    pool: app
    auth: {mode: bearer_or_session}
    allow: ['identity.subject == "bob"']
  - name: api
    match: {path_prefix: /api/}
    pool: app
    auth: {mode: bearer}
    allow: ['identity.subject != ""']
  - name: public
`, 1)
}

// auditRecords reads the JSON lines of an audit file.
func auditRecords(t *testing.T, file string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestLoginIssuerRules: with login.issuer naming an identity issuer,
// browser logins obey that issuer's rules: a required claim or an allowed
// domain the user lacks, or an algorithm the issuer does not allow,
// refuses the login with its reason (and an authn.failure record naming
// the user); a custom claims mapping is what whoami shows; and a reload
// that tightens the rules ends the sessions they no longer admit.
func TestLoginIssuerRules(t *testing.T) {
	cases := []struct {
		name, rules string
		status      int
		code, text  string // in the body
	}{
		{"required claim missing", ", required_claims: [{name: department}]", 401, "session.missing_claim", "a required claim is missing: department"},
		{"google domain not allowed", ", preset: google, allowed_domains: [example.com]", 403, "session.domain_not_allowed", "domain is not allowed"},
		{"algorithm not allowed", ", algorithms: [ES256]", 401, "session.alg_not_allowed", "algorithm is not allowed"},
		{"ID token lifetime over the cap", ", max_token_lifetime: 30s", 401, "session.lifetime_too_long", "exceeds the maximum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gwAddr := loginFreePort(t)
			idp := startDevIDP(t, gwAddr, time.Minute)
			auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
			startGateway(t, namedLoginYAML(gwAddr, loginOrigin(t).URL, idp.Issuer(), writeSecret(t, "dev-secret"), c.rules)+
				"audit: {sinks: [{type: file, path: \""+auditFile+"\"}]}\n")
			resp, body := loginCallback(t, "http://"+gwAddr, "alice")
			if resp.StatusCode != c.status || !strings.Contains(body, `"`+c.code+`"`) || !strings.Contains(body, c.text) {
				t.Fatalf("callback: %d %s, want %d with %s and %q", resp.StatusCode, body, c.status, c.code, c.text)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == "__Host-edgegate" && ck.Value != "" {
					t.Errorf("a refused login set a session cookie")
				}
			}
			var found bool
			for _, ev := range auditRecords(t, auditFile) {
				if ev["kind"] == "authn.failure" && ev["reason"] == strings.TrimPrefix(c.code, "session.") {
					found = true
					if c.code != "session.alg_not_allowed" && ev["subject"] != "alice" {
						t.Errorf("the refusal record does not name the user: %v", ev)
					}
				}
			}
			if !found {
				t.Errorf("no authn.failure record with reason %s", c.code)
			}
		})
	}

	t.Run("claims mapping and reload", func(t *testing.T) {
		gwAddr := loginFreePort(t)
		idp := startDevIDP(t, gwAddr, time.Minute)
		base := "http://" + gwAddr
		src := namedLoginYAML(gwAddr, loginOrigin(t).URL, idp.Issuer(), writeSecret(t, "dev-secret"), ", claims: {groups: [roles], roles: [groups]}")
		tg := startGateway(t, src)
		cookie := loginWithoutBrowser(t, base, "alice")
		whoami := func() (int, string) {
			req, _ := http.NewRequest("GET", base+"/.edgegate/whoami", nil)
			req.AddCookie(cookie)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		code, body := whoami()
		var who struct {
			Groups, Roles, Scopes []string
			IssuerName            string `json:"issuer_name"`
		}
		if err := json.Unmarshal([]byte(body), &who); code != 200 || err != nil {
			t.Fatalf("whoami: %d %s", code, body)
		}
		if strings.Join(who.Groups, ",") != "editor" || strings.Join(who.Roles, ",") != "dev,admins" || who.IssuerName != "dev" {
			t.Errorf("whoami %s: want the mapped groups [editor] and roles [dev admins] of issuer dev", body)
		}
		// A reload requiring a claim alice lacks ends her session.
		if err := tg.apply(strings.Replace(src, "claims: {groups: [roles], roles: [groups]}", "required_claims: [{name: department}]", 1)); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if code, body := whoami(); code != 401 || !strings.Contains(body, "session.missing_claim") {
			t.Fatalf("whoami after the stricter reload: %d %s", code, body)
		}
		if code, body := whoami(); code != 401 || !strings.Contains(body, "session.session_expired") {
			t.Errorf("the refused session was not ended: %d %s", code, body)
		}
	})
}

// TestLoginCallbackGarbage: with a real state cookie from
// /.edgegate/login, garbage the browser brings back is a 400 or 403 with
// its reason, never a 502: a code the provider refuses (invalid_grant), a
// code that cannot be one, and the provider's error=access_denied shown by
// its sanitized code. Against the embedded provider and the npm
// oidc-provider.
func TestLoginCallbackGarbage(t *testing.T) {
	dir := e2eDir(t)
	providers := []struct {
		name  string
		start func(t *testing.T, gwAddr string) (issuer, secret string)
	}{
		{"devidp", func(t *testing.T, gwAddr string) (string, string) {
			return startDevIDP(t, gwAddr, time.Minute).Issuer(), "dev-secret"
		}},
		{"oidc-provider", func(t *testing.T, gwAddr string) (string, string) {
			return startOIDCProvider(t, dir, "http://"+gwAddr), "op-secret"
		}},
	}
	cases := []struct {
		name, query string
		status      int
		code, text  string
	}{
		{"garbage code", "code=garbage", 400, "session.bad_code", "the provider refused the authorization code"},
		{"binary code", "code=%ff%00", 400, "session.bad_code", "not one the provider issues"},
		{"access denied", "error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E", 403, "session.provider_denied", "the provider answered access_denied"},
		{"garbage error", "error=%ff%00%22x", 403, "session.provider_denied", "the provider answered ???x"},
	}
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			gwAddr := loginFreePort(t)
			issuer, secret := p.start(t, gwAddr)
			startGateway(t, sessionGatewayYAML(gwAddr, loginOrigin(t).URL, issuer, writeSecret(t, secret), ""))
			base := "http://" + gwAddr
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					resp, err := noRedirectClient.Get(base + "/.edgegate/login?rd=/app/x")
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					state := mustURL(t, resp.Header.Get("Location")).Query().Get("state")
					req, _ := http.NewRequest("GET", base+"/.edgegate/callback?state="+url.QueryEscape(state)+"&"+c.query, nil)
					req.Header.Set("Accept", "application/json")
					for _, ck := range resp.Cookies() {
						req.AddCookie(ck)
					}
					if resp, err = noRedirectClient.Do(req); err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					body := string(b)
					if resp.StatusCode != c.status || !strings.Contains(body, `"`+c.code+`"`) || !strings.Contains(body, c.text) {
						t.Fatalf("callback?%s: %d %s, want %d with %s and %q", c.query, resp.StatusCode, body, c.status, c.code, c.text)
					}
					if strings.Contains(body, "<b>") || strings.Contains(body, "\\u0000") {
						t.Errorf("the body reflects what the browser sent: %s", body)
					}
				})
			}
		})
	}
}

// TestBearerOrSessionWithLogin: with browser login configured, the
// Authorization header alone decides what a bearer_or_session route
// reads, a session never stands in for a bearer token or the reverse.
func TestBearerOrSessionWithLogin(t *testing.T) {
	gwAddr := loginFreePort(t)
	idp := startDevIDP(t, gwAddr, time.Minute)
	startGateway(t, namedLoginYAML(gwAddr, loginOrigin(t).URL, idp.Issuer(), writeSecret(t, "dev-secret"), ""))
	base := "http://" + gwAddr
	alice := loginWithoutBrowser(t, base, "alice")
	mint := func(user, aud string) string {
		t.Helper()
		tok, err := idp.Mint(user, aud, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	aliceTok, bobTok, otherAud := mint("alice", "api"), mint("bob", "api"), mint("alice", "other")
	cases := []struct {
		name, path, accept, auth string
		cookie                   bool
		status                   int
		code                     string // in the body, or the Location prefix for a redirect
	}{
		{"session + bad bearer", "/both/x", "application/json", "Bearer garbage", true, 401, "authn.malformed"},
		{"session + bearer for another audience", "/both/x", "application/json", "Bearer " + otherAud, true, 401, "authn.wrong_audience"},
		{"session + other scheme", "/both/x", "application/json", "Basic YWxpY2U6eA==", true, 401, "authn.missing"},
		{"session + empty Authorization", "/both/x", "application/json", "", true, 401, "authn.missing"},
		{"session + bad bearer, browser", "/both/x", "text/html", "Bearer garbage", true, 401, "not a well-formed"},
		{"session, no Authorization", "/both/x", "application/json", "-", true, 200, "origin saw /both/x"},
		{"bearer, no session", "/both/x", "application/json", "Bearer " + aliceTok, false, 200, "origin saw /both/x"},
		{"bearer decides over the session", "/bob/x", "application/json", "Bearer " + bobTok, true, 200, "origin saw /bob/x"},
		{"session alone is alice", "/bob/x", "application/json", "-", true, 403, ""},
		{"bearer on a session route, browser", "/app/x", "text/html", "Bearer " + aliceTok, false, 302, "/.edgegate/login?rd="},
		{"bearer on a session route, API", "/app/x", "application/json", "Bearer " + aliceTok, false, 401, "session.missing"},
		{"session cookie on a bearer route", "/api/x", "application/json", "-", true, 401, "authn.missing"},
		{"session cookie on a bearer route, browser", "/api/x", "text/html", "-", true, 401, "no bearer token was sent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+c.path, nil)
			req.Header.Set("Accept", c.accept)
			if c.auth != "-" {
				req.Header["Authorization"] = []string{c.auth}
			}
			if c.cookie {
				req.AddCookie(alice)
			}
			resp, err := noRedirectClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			switch {
			case c.status == 302:
				if !strings.HasPrefix(resp.Header.Get("Location"), c.code) {
					t.Errorf("Location %q, want %s...", resp.Header.Get("Location"), c.code)
				}
			case !strings.Contains(string(b), c.code):
				t.Errorf("body %s lacks %s", b, c.code)
			}
			if (c.path == "/api/x" || c.auth != "-" && c.path == "/both/x") && c.status == 401 && !strings.HasPrefix(resp.Header.Get("Www-Authenticate"), "Bearer") {
				t.Errorf("a bearer refusal without a Bearer challenge: %q", resp.Header.Get("Www-Authenticate"))
			}
		})
	}
}
