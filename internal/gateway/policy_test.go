package gateway

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/route"
)

// policyConfig has a public route with rules (reachable end to end while
// bearer authentication is not wired) and an authenticated route whose
// decisions the tests drive through authorize with constructed identities.
func policyConfig(originURL, auditPath string) string {
	secret := filepath.Join(filepath.Dir(auditPath), "hmac.key")
	if err := os.WriteFile(secret, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		panic(err)
	}
	return `version: 1
identity:
  issuers: [{name: corp, issuer: "https://idp.example.com", hmac_secret_file: ` + secret + `, audiences: [edge]}]
listeners: [{name: public, address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
timeouts: {shutdown: 5s}
audit:
  sinks: [{name: trail, type: file, path: ` + auditPath + `}]
pools: [{name: app, members: [` + originURL + `]}]
policy:
  roles:
    admin: '"platform-admins" in identity.groups'
  services:
    - name: billing
      match: 'identity.service && identity.client_id == "billing-svc"'
      roles: [billing-writer]
routes:
  - name: public
    match: {path_prefix: /pub}
    pool: app
    deny:
      - name: no-debug
        expr: '"x-debug" in request.headers'
      - 'request.segments.size() > 3'
  - name: open
    match: {path_prefix: /open}
    pool: app
  - name: billing
    match: {path_prefix: /billing}
    pool: app
    auth: {mode: bearer}
    allow:
      - name: billing-service-posts
        expr: '"billing-writer" in identity.roles && request.method == "POST"'
      - name: admins
        expr: '"admin" in identity.roles'
    deny:
      - name: after-hours
        expr: 'time.getHours("UTC") >= 22'
`
}

func TestPolicyPublicRouteEndToEnd(t *testing.T) {
	o := newEchoOrigin(t, "a")
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	tg := startGateway(t, policyConfig(o.URL, auditPath))
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		msg    string
	}{
		{"allowed", "/pub/a", nil, 200, ""},
		{"denied by header", "/pub/a", http.Header{"X-Debug": {"1"}}, 403, "access denied by policy (denied_by: no-debug)"},
		{"denied by path", "/pub/a/b/c", nil, 403, "access denied by policy (denied_by: routes[0].deny[1])"},
		{"route without rules", "/open/a/b/c/d", http.Header{"X-Debug": {"1"}}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := o.count()
			req, _ := http.NewRequest("GET", tg.url(tt.path), nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 403 {
				var body struct{ Error, Message string }
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatal(err)
				}
				if body.Error != "policy.denied" || body.Message != tt.msg {
					t.Errorf("body %+v, want policy.denied %q", body, tt.msg)
				}
				if strings.Contains(body.Message, "request.") {
					t.Error("the expression leaked into the response")
				}
				if o.count() != before {
					t.Error("a denied request reached the origin")
				}
			}
		})
	}
	// Denies on public routes are recorded; public allows are not.
	events := readAudit(t, auditPath, 2)
	var denies int
	for _, e := range events {
		if e.Kind == audit.KindPolicyAllow {
			t.Errorf("public allow recorded: %+v", e)
		}
		if e.Kind == audit.KindPolicyDeny && e.Route == "public" && e.Reason == "denied_by" {
			denies++
		}
	}
	if denies != 2 {
		t.Errorf("%d deny events, want 2: %+v", denies, events)
	}
	m := scrapeMetrics(t, tg)
	for _, want := range []string{
		`edgegate_policy_decisions_total{decision="deny",reason="denied_by",route="public"} 2`,
		`edgegate_policy_decisions_total{decision="allow",reason="public",route="public"} 1`,
		`edgegate_policy_decisions_total{decision="allow",reason="public",route="open"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// readAudit waits for at least n lines of the audit file.
func readAudit(t *testing.T, path string, n int) []audit.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var events []audit.Event
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var e audit.Event
				if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind != "" {
					events = append(events, e)
				}
			}
			f.Close()
		}
		if len(events) >= n || time.Now().After(deadline) {
			return events
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scrapeMetrics(t *testing.T, tg *testGateway) string {
	t.Helper()
	rec := httptest.NewRecorder()
	tg.g.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestAuthorizeIdentities drives authorize on the authenticated route with
// identities built here, as bearer or session authentication would.
func TestAuthorizeIdentities(t *testing.T) {
	o := newEchoOrigin(t, "a")
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	tg := startGateway(t, policyConfig(o.URL, auditPath))
	snap := tg.g.snap.Load()
	day := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

	admin := &identity.Identity{Method: identity.MethodBearer, Subject: "alice", Issuer: "https://idp", Groups: []string{"platform-admins"}, Fingerprint: "fp-alice"}
	svc := &identity.Identity{Method: identity.MethodBearer, Subject: "svc", ClientID: "billing-svc", Service: true}
	other := &identity.Identity{Method: identity.MethodSession, Subject: "bob", Groups: []string{"eng"}}
	tests := []struct {
		name    string
		method  string
		id      *identity.Identity
		now     time.Time
		allow   bool
		reason  string
		rule    string
		roles   []string
		service string
	}{
		{"admin by derived role", "GET", admin, day, true, "allowed_by", "admins", []string{"admin"}, ""},
		{"service may POST", "POST", svc, day, true, "allowed_by", "billing-service-posts", []string{"billing-writer"}, "billing"},
		{"service may not GET", "GET", svc, day, false, "no_allow_rule", "", []string{"billing-writer"}, "billing"},
		{"default deny", "GET", other, day, false, "no_allow_rule", "", nil, ""},
		{"deny wins at night", "GET", admin, day.Add(13 * time.Hour), false, "denied_by", "after-hours", []string{"admin"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := *snap.policy
			ps.now = func() time.Time { return tt.now }
			s := *snap
			s.policy = &ps
			r := httptest.NewRequest(tt.method, "http://api.example.com/billing/charge", nil)
			rt := s.Routes.Match(&route.Request{Host: "api.example.com", Path: "/billing/charge", Method: tt.method, Header: r.Header})
			if rt == nil || rt.Name() != "billing" {
				t.Fatalf("route %v", rt)
			}
			st := &reqState{id: "req-" + strings.ReplaceAll(tt.name, " ", "-"), route: rt.Name(), ident: tt.id,
				hy: hygiene.Result{Host: "api.example.com", Path: "/billing/charge", Scheme: "https", ClientIP: netip.MustParseAddr("192.0.2.1")}}
			beforeRoles := append([]string(nil), tt.id.Roles...)
			err := tg.g.authorize(r, &s, rt, tt.id, st)
			if (err == nil) != tt.allow {
				t.Fatalf("authorize = %v, want allow=%v", err, tt.allow)
			}
			if err != nil {
				he := httperr.As(err)
				if he.Status != 403 || he.Code != "policy.denied" || !strings.Contains(he.Public, tt.reason) {
					t.Errorf("error %d %s %q", he.Status, he.Code, he.Public)
				}
			}
			if !equalStrings(st.ident.Roles, tt.roles) || st.ident.ServiceName != tt.service {
				t.Errorf("identity after authorize: roles %v service %q, want %v %q", st.ident.Roles, st.ident.ServiceName, tt.roles, tt.service)
			}
			if !equalStrings(tt.id.Roles, beforeRoles) || tt.id.ServiceName != "" {
				t.Error("authorize changed the shared identity")
			}
			events := readAudit(t, auditPath, 1)
			var found *audit.Event
			for i := range events {
				if events[i].RequestID == st.id {
					found = &events[i]
				}
			}
			if found == nil {
				t.Fatalf("no audit event for %s", st.id)
			}
			wantKind := audit.KindPolicyDeny
			if tt.allow {
				wantKind = audit.KindPolicyAllow
			}
			if found.Kind != wantKind || found.Reason != tt.reason || found.Rule != tt.rule || found.Subject != tt.id.Subject || found.Route != "billing" || !equalStrings(found.Roles, tt.roles) {
				t.Errorf("audit event %+v", *found)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPolicyReloadReusesPrograms(t *testing.T) {
	o := newEchoOrigin(t, "a")
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	src := policyConfig(o.URL, auditPath)
	tg := startGateway(t, src)
	first := tg.g.snap.Load().policy
	src2 := strings.Replace(src, `'request.segments.size() > 3'`, `'request.segments.size() > 4'`, 1)
	if err := os.WriteFile(tg.file, []byte(src2), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Reloader{Path: tg.file, Gateway: tg.g}).Reload(); err != nil {
		t.Fatal(err)
	}
	second := tg.g.snap.Load().policy
	if second == first {
		t.Fatal("snapshot policy not replaced")
	}
	progs, hits := second.cache.Stats()
	// Six expressions; five unchanged come from the previous snapshot.
	if progs != 7 || hits != 6 {
		t.Errorf("cache after reload: %d programs, %d reused; want 7 and 6", progs, hits)
	}
	resp, err := http.Get(tg.url("/pub/a/b/c"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after reload /pub/a/b/c = %d, want 200 (the changed rule applies)", resp.StatusCode)
	}
}
