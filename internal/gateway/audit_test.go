package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/identity"
)

func TestAuditRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: unwritable as a file, even for root.
	ro := filepath.Join(dir, "taken")
	if err := os.MkdirAll(filepath.Join(ro, "audit.jsonl"), 0o700); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("version: 1\nlisteners: [{address: \"127.0.0.1:0\"}]\nadmin: {address: \"off\"}\n"+
		"pools: [{name: app, members: [\"http://127.0.0.1:1\"]}]\nroutes: [{name: r, pool: app}]\n"+
		"audit:\n  sinks: [{name: trail, type: file, path: %q}]\n", filepath.Join(ro, "audit.jsonl"))
	file := filepath.Join(dir, "edgegate.yaml")
	os.WriteFile(file, []byte(src), 0o600)
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: io.Discard})
	if err == nil {
		g.Close()
		t.Fatal("New succeeded with an unwritable audit path")
	}
	if !strings.Contains(err.Error(), `sink "trail"`) || !strings.Contains(err.Error(), "audit.jsonl") {
		t.Errorf("error does not say which sink and path: %v", err)
	}
}

// TestAuditTrailHoldsNoSecrets drives requests with real tokens from a
// local identity provider (valid, expired, for another audience; in the
// Authorization header, forwarded to the origin, and in the query
// string) and a session cookie, with the audit trail, the access log, a
// debug-level operator log and tracing (every request sampled) on. No
// token or cookie, nor a recognisable part of one (a JWT's payload or
// signature segment), may appear in the operator log, the access log,
// the audit file, the /metrics body or a span attribute: credentials
// appear as fingerprints only. A careless stage that passes raw
// credentials to the trail is redacted too.
func TestAuditTrailHoldsNoSecrets(t *testing.T) {
	p := newLocalIdP(t, t.TempDir())
	origin := newEchoOrigin(t, "o")
	col := newOTLPCollector(t)
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	tg := startGateway(t, localConfig(origin.URL, p, "")+fmt.Sprintf(
		"audit:\n  sinks: [{type: file, path: %q}]\n  checkpoint: {every: 2}\ntracing: {endpoint: %q, sample_ratio: 1}\n",
		auditFile, col.URL+"/v1/traces"))

	valid := p.sign(t, "ES256", p.claims(), nil)
	expiredClaims := p.claims()
	expiredClaims["iat"], expiredClaims["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-10*time.Minute).Unix()
	expired := p.sign(t, "RS256", expiredClaims, nil)
	wrongAudClaims := p.claims()
	wrongAudClaims["aud"] = "other"
	wrongAud := p.sign(t, "ES256", wrongAudClaims, nil)
	const cookieValue = "Zm9vYmFyLXNlc3Npb24tc2VjcmV0LXZhbHVlLTEyMzQ1Njc4OQ"
	cookie := config.DefaultLoginCookieName + "=" + cookieValue

	cases := []struct {
		name, path, token, cookie string
		status                    int
	}{
		{"valid", "/api/x", valid, "", 200},
		{"valid with a cookie", "/api/x", valid, cookie, 200},
		{"forwarded to the origin", "/fwd/x", valid, "", 200},
		{"expired", "/api/x", expired, cookie, 401},
		{"wrong audience", "/api/x", wrongAud, "", 401},
		{"session cookie", "/both/x", "", cookie, 401},
		{"token in the query", "/open/x?access_token=" + valid + "&session=" + cookieValue, "", "", 200},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", tg.url(tc.path), nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if tc.name == "expired" {
			// A careless stage passes the raw credentials along.
			e := audit.Event{Kind: audit.KindAuthnFailure, RequestID: resp.Header.Get(RequestIDHeader), Route: "api",
				Decision: "deny", Reason: "expired", Fingerprint: identity.Fingerprint(tc.token),
				Detail: map[string]string{"authorization": req.Header.Get("Authorization"), "cookie": tc.cookie, "note": "token " + tc.token}}
			if err := tg.g.record(context.Background(), e); err != nil {
				t.Fatalf("record: %v", err)
			}
		}
	}
	resp, err := http.Get("http://" + tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tg.stop() // flushes the audit trail, the access log and the span exporter
	waitFor(t, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return len(col.spans) >= len(cases)
	})

	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	spanAttrs := strings.Join(col.attrs, "\n")
	col.mu.Unlock()
	places := map[string]string{
		"audit file":      string(data),
		"operator log":    tg.logs.String(),
		"access log":      tg.access.String(),
		"/metrics":        string(metricsBody),
		"span attributes": spanAttrs,
	}
	secrets := map[string]string{"session cookie": cookieValue}
	for name, tok := range map[string]string{"valid token": valid, "expired token": expired, "wrong-audience token": wrongAud} {
		seg := strings.Split(tok, ".")
		secrets[name] = tok
		secrets[name+" payload"] = seg[1]
		secrets[name+" signature"] = seg[2]
		secrets[name+" signature start"] = seg[2][:16]
	}
	for where, text := range places {
		if text == "" {
			t.Errorf("%s is empty: the check would prove nothing", where)
		}
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the %s", where, what)
			}
		}
	}
	for _, tok := range []string{expired, wrongAud, valid} {
		if !strings.Contains(string(data), identity.Fingerprint(tok)) {
			t.Errorf("the audit file lacks the fingerprint of token %s...", tok[:12])
		}
	}
	rep, err := audit.Verify([]string{auditFile}, audit.VerifyOptions{})
	if err != nil || !rep.OK() || rep.Records < 4 {
		t.Fatalf("trail: %v %+v", err, rep)
	}
}

// TestAuditFailClosedIs503 fills the spool of an http sink whose collector
// is down and checks that record then returns the 503 a stage answers with.
func TestAuditFailClosedIs503(t *testing.T) {
	t.Parallel() // waits out the trail's close timeout (its collector is down)
	dead := deadAddr(t)
	origin := newEchoOrigin(t, "o")
	spool := filepath.Join(t.TempDir(), "spool")
	tg := startGateway(t, basicConfig(origin.URL, "")+fmt.Sprintf(
		"audit:\n  policy: fail_closed\n  spool: {dir: %q, max_bytes: 4KiB}\n  sinks: [{name: siem, type: http, url: \"http://%s/\"}]\n", spool, dead))
	var last error
	for i := range 40 {
		last = tg.g.record(context.Background(), audit.Event{Kind: audit.KindPolicyDeny, RequestID: fmt.Sprint(i), Decision: "deny"})
		if last != nil {
			break
		}
	}
	if !errors.Is(last, audit.ErrUnavailable) {
		t.Fatalf("record with a full spool = %v, want ErrUnavailable", last)
	}
	if he := httperr.As(last); he.Status != http.StatusServiceUnavailable || he.Code != "audit.unavailable" {
		t.Errorf("error = %d %s, want 503 audit.unavailable", he.Status, he.Code)
	}
	resp, err := http.Get("http://" + tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`edgegate_audit_sink_up{sink="siem"} 0`, "edgegate_audit_refused_total 1", "edgegate_audit_spool_depth "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// deadAddr is a loopback address nothing listens on: an audit collector
// that is down.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestAuditFailClosedThroughRequests fills the spool of an http sink
// whose collector is down with real decisions (policy allows on an
// authenticated route) until the route answers 503 audit.unavailable
// with Retry-After; a public route, which records nothing, still
// answers 200.
func TestAuditFailClosedThroughRequests(t *testing.T) {
	t.Parallel() // waits out the trail's close timeout (its collector is down)
	p := newLocalIdP(t, t.TempDir())
	o := newEchoOrigin(t, "a")
	tail := fmt.Sprintf("audit:\n  policy: fail_closed\n  spool: {dir: %q, max_bytes: 4KiB}\n  sinks: [{name: siem, type: http, url: \"http://%s/\"}]\n",
		filepath.Join(t.TempDir(), "spool"), deadAddr(t))
	tg := startGateway(t, localConfig(o.URL, p, "")+tail)
	tok := p.sign(t, "ES256", p.claims(), nil)
	get := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", tg.url(path), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	var resp *http.Response
	var body string
	served := 0
	for range 200 {
		if resp, body = get("/api/x"); resp.StatusCode != 200 {
			break
		}
		served++
	}
	if served == 0 {
		t.Fatalf("the first request already failed: %d %s", resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"audit.unavailable"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d requests: %d %s (Retry-After %q), want 503 audit.unavailable with Retry-After", served, resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	seen := o.count()
	if resp, _ := get("/api/y"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the next audited request: %d, want 503", resp.StatusCode)
	}
	if o.count() != seen {
		t.Error("a request whose decision was not recorded reached the origin")
	}
	if resp, _ := get("/public"); resp.StatusCode != 200 {
		t.Errorf("public route with the spool full: %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(tg.access.String(), `"error":"audit.unavailable"`) {
		t.Error("the access log does not name audit.unavailable")
	}
}

// TestConfigActivationAudited: the configuration going into service is a
// config.activate record at start, and every reload (Apply, as SIGHUP
// and the file watcher call it) names the hash it replaced; a refused
// reload records nothing.
func TestConfigActivationAudited(t *testing.T) {
	origin := newEchoOrigin(t, "o")
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	tail := fmt.Sprintf("audit:\n  sinks: [{type: file, path: %q}]\n", auditFile)
	tg := startGateway(t, basicConfig(origin.URL, tail))
	first := tg.g.Snapshot().Config.Hash
	reload := func(src string) error {
		return tg.apply(src)
	}
	if err := reload(basicConfig(origin.URL, "  - name: extra\n    match: {path_prefix: /extra}\n    pool: app\n"+tail)); err != nil {
		t.Fatal(err)
	}
	second := tg.g.Snapshot().Config.Hash
	if err := reload(basicConfig(origin.URL, "  - name: extra\n    match: {path_prefix: /extra}\n    pool: nowhere\n"+tail)); err == nil {
		t.Fatal("a reload naming a missing pool was accepted")
	}
	if err := reload(basicConfig(origin.URL, tail)); err != nil {
		t.Fatal(err)
	}
	tg.stop()
	var acts []audit.Event
	for _, e := range readAudit(t, auditFile, 3) {
		if e.Kind == audit.KindConfigActivate {
			acts = append(acts, e)
		}
	}
	if len(acts) != 3 {
		t.Fatalf("%d config.activate records, want 3 (start and two reloads): %+v", len(acts), acts)
	}
	wantChain := []struct{ hash, previous string }{{first, ""}, {second, first}, {first, second}}
	for i, w := range wantChain {
		e := acts[i]
		if e.Detail["config_hash"] != w.hash || e.Detail["previous_hash"] != w.previous || e.Decision != "allow" || e.Detail["file"] != tg.file {
			t.Errorf("activation %d: %+v; want config_hash %s previous_hash %q file %s", i, e, w.hash, w.previous, tg.file)
		}
	}
	rep, err := audit.Verify([]string{auditFile}, audit.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("trail: %v %+v", err, rep)
	}
}

// TestAdminActionsAudited: script activation on the admin listener is an
// admin record, allowed or refused (unknown version, bad network), with
// the client address; a state-changing request the admin listener does
// not serve is recorded as refused; reads are not recorded. Under
// fail_closed an activation that cannot be recorded does not happen.
func TestAdminActionsAudited(t *testing.T) {
	t.Parallel() // waits out the trail's close timeout (its collector is down)
	app := newEchoOrigin(t, "app")
	v1 := writeBundle(t, "1.0", `export function onClientRequest(r) { r.respondWith(200, {}, 'v1'); }`)
	v2 := writeBundle(t, "2.0", `export function onClientRequest(r) { r.respondWith(200, {}, 'v2'); }`)
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.jsonl")
	src := func(auditSection string) string {
		return fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
pools: [{name: app, members: [%q]}]
scripts:
  bundles: [{name: site, versions: [%q, %q], production: "1.0"}]
routes: [{name: r, match: {path_prefix: /}, pool: app, script: {bundle: site}}]
%s`, app.URL, v1, v2, auditSection)
	}
	tg := startGateway(t, src(fmt.Sprintf("audit:\n  sinks: [{type: file, path: %q}]\n", auditFile)))
	admin := func(tg *testGateway, method, path string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+tg.admin+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	served := func(tg *testGateway) string {
		_, body := scriptGet(t, tg.url("/"), nil)
		return body
	}
	steps := []struct {
		method, path string
		status       int
		// the record wanted: decision, reason, rule ("" for none)
		decision, reason, rule string
	}{
		{"POST", "/scripts/activate?bundle=site&version=2.0", 200, "allow", "activated", "scripts.activate"},
		{"POST", "/scripts/activate?bundle=site&version=9.9", 400, "deny", "no_version", "scripts.activate"},
		{"POST", "/scripts/activate?bundle=nope&version=1.0", 400, "deny", "no_bundle", "scripts.activate"},
		{"POST", "/scripts/activate?bundle=site&version=1.0&network=moon", 400, "deny", "bad_network", "scripts.activate"},
		{"POST", "/config/reload", 404, "deny", "unknown_action", "unknown"},
		{"DELETE", "/metrics", 405, "deny", "unknown_action", "unknown"},
		{"GET", "/status", 200, "", "", ""},
		{"GET", "/scripts", 200, "", "", ""},
	}
	for _, s := range steps {
		if code, body := admin(tg, s.method, s.path); code != s.status {
			t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, code, body, s.status)
		}
	}
	if got := served(tg); got != "v2" {
		t.Fatalf("after activating 2.0 the route serves %q", got)
	}
	tg.stop()
	var recs []audit.Event
	for _, e := range readAudit(t, auditFile, 1) {
		if e.Kind == audit.KindAdmin {
			recs = append(recs, e)
		}
	}
	var want []string
	for _, s := range steps {
		if s.decision != "" {
			want = append(want, s.method+" "+s.decision+" "+s.reason+" "+s.rule)
		}
	}
	var got []string
	for _, e := range recs {
		got = append(got, e.Method+" "+e.Decision+" "+e.Reason+" "+e.Rule)
		if e.ClientIP != "127.0.0.1" || e.Path == "" || e.Time.IsZero() {
			t.Errorf("record %+v lacks client address, path or time", e)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("admin records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := recs[0].Detail; d["bundle"] != "site" || d["version"] != "2.0" || d["network"] != "production" || d["previous_version"] != "1.0" {
		t.Errorf("activation detail %v", d)
	}

	t.Run("fail_closed", func(t *testing.T) {
		tg := startGateway(t, src(fmt.Sprintf("audit:\n  policy: fail_closed\n  spool: {dir: %q, max_bytes: 4KiB}\n  sinks: [{name: siem, type: http, url: \"http://%s/\"}]\n",
			filepath.Join(t.TempDir(), "spool"), deadAddr(t))))
		code := 0
		for i := range 100 {
			// Alternate so every attempt is a real change.
			v := []string{"2.0", "1.0"}[i%2]
			if code, _ = admin(tg, "POST", "/scripts/activate?bundle=site&version="+v); code != 200 {
				break
			}
		}
		if code != http.StatusServiceUnavailable {
			t.Fatalf("with the spool full, activation answered %d, want 503", code)
		}
		before := served(tg)
		other := map[string]string{"v1": "2.0", "v2": "1.0"}[before]
		if code, _ := admin(tg, "POST", "/scripts/activate?bundle=site&version="+other); code != http.StatusServiceUnavailable {
			t.Fatalf("second attempt: %d, want 503", code)
		}
		if after := served(tg); after != before {
			t.Errorf("an unrecorded activation took effect: served %q, then %q", before, after)
		}
	})
}
