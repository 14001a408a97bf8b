package policy

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgegate/edgegate/internal/identity"
)

func mustCompile(t testing.TB, src string, kind Kind) *Program {
	t.Helper()
	p, err := Compile(src, kind)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return p
}

func rules(t testing.TB, prefix string, srcs ...string) []Rule {
	var out []Rule
	for i, s := range srcs {
		out = append(out, Rule{Name: prefix + "[" + string(rune('0'+i)) + "]", Program: mustCompile(t, s, KindRule)})
	}
	return out
}

var (
	alice = &identity.Identity{
		Method: identity.MethodBearer, Issuer: "https://idp", IssuerName: "corp", Subject: "alice",
		Email: "alice@example.com", Groups: []string{"eng", "platform-admins"}, Roles: []string{"reader"},
		Scopes: []string{"openid", "billing:read"}, Claims: map[string]any{"tenant": "acme", "level": float64(3)},
	}
	billing = &identity.Identity{
		Method: identity.MethodBearer, Issuer: "https://idp", Subject: "svc-billing", ClientID: "billing-svc", Service: true,
	}
	// 2026-03-04 is a Wednesday.
	workday = time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)
	night   = time.Date(2026, 3, 4, 23, 30, 0, 0, time.UTC)
	weekend = time.Date(2026, 3, 7, 10, 30, 0, 0, time.UTC)
)

func req(method, path string) Request {
	return Request{
		Method: method, Host: "api.example.com", Path: path, RawQuery: "tenant=acme&tag=a&tag=b", Scheme: "https",
		ClientIP: netip.MustParseAddr("192.0.2.10"),
		Header:   http.Header{"X-Env": {"prod"}, "X-Dup": {"a", "b"}, "Content-Type": {"application/json"}},
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name        string
		public      bool
		allow, deny []string
		id          *identity.Identity
		r           Request
		now         time.Time
		want        Decision
	}{
		{name: "group allows", allow: []string{`"platform-admins" in identity.groups`}, id: alice,
			want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "default deny without allow rules", id: alice, want: Decision{Reason: ReasonNoAllowRule}},
		{name: "no allow rule holds", allow: []string{`"ops" in identity.groups`, `identity.email.endsWith("@other.org")`}, id: alice,
			want: Decision{Reason: ReasonNoAllowRule}},
		{name: "second allow rule", allow: []string{`"ops" in identity.groups`, `identity.email.endsWith("@example.com")`}, id: alice,
			want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[1]"}},
		{name: "deny wins", allow: []string{`true`}, deny: []string{`identity.subject == "alice"`}, id: alice,
			want: Decision{Reason: ReasonDeniedBy, Rule: "deny[0]"}},
		{name: "deny not holding", allow: []string{`true`}, deny: []string{`identity.subject == "bob"`}, id: alice,
			want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "public without rules", public: true, want: Decision{Allow: true, Reason: ReasonPublic}},
		{name: "public with deny only", public: true, deny: []string{`request.path.startsWith("/admin")`}, r: req("GET", "/admin/x"),
			want: Decision{Reason: ReasonDeniedBy, Rule: "deny[0]"}},
		{name: "public deny not holding", public: true, deny: []string{`request.path.startsWith("/admin")`}, r: req("GET", "/app"),
			want: Decision{Allow: true, Reason: ReasonPublic}},
		{name: "public with allow rules applies them", public: true, allow: []string{`identity.authenticated`},
			want: Decision{Reason: ReasonNoAllowRule}},
		{name: "service may POST to billing", allow: []string{`identity.service && identity.client_id == "billing-svc" && request.method == "POST"`},
			id: billing, r: req("POST", "/billing/charge"), want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "service may not GET", allow: []string{`identity.service && identity.client_id == "billing-svc" && request.method == "POST"`},
			id: billing, r: req("GET", "/billing/charge"), want: Decision{Reason: ReasonNoAllowRule}},
		{name: "human is not the service", allow: []string{`identity.service && identity.client_id == "billing-svc"`},
			id: alice, r: req("POST", "/billing/charge"), want: Decision{Reason: ReasonNoAllowRule}},
		{name: "business hours in", allow: []string{`time.getHours("Europe/Berlin") >= 9 && time.getHours("Europe/Berlin") < 18 && time.getDayOfWeek("Europe/Berlin") in [1,2,3,4,5]`},
			id: alice, now: workday, want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "business hours night", allow: []string{`time.getHours("Europe/Berlin") >= 9 && time.getHours("Europe/Berlin") < 18`},
			id: alice, now: night, want: Decision{Reason: ReasonNoAllowRule}},
		{name: "business hours weekend", allow: []string{`time.getDayOfWeek("Europe/Berlin") in [1,2,3,4,5]`},
			id: alice, now: weekend, want: Decision{Reason: ReasonNoAllowRule}},
		{name: "header condition", allow: []string{`request.headers["x-env"] == "prod"`}, id: alice, r: req("GET", "/"),
			want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "repeated header is joined", allow: []string{`request.headers["x-dup"] == "b"`}, id: alice, r: req("GET", "/"),
			want: Decision{Reason: ReasonNoAllowRule}},
		{name: "absent header with in", allow: []string{`!("x-debug" in request.headers)`}, id: alice, r: req("GET", "/"),
			want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "path segments", allow: []string{`request.segments[0] == "users" && request.segments[1] == identity.subject`}, id: alice,
			r: req("GET", "/users/alice/files"), want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "path segments other user", allow: []string{`request.segments.size() > 1 && request.segments[1] == identity.subject`}, id: alice,
			r: req("GET", "/users/bob/files"), want: Decision{Reason: ReasonNoAllowRule}},
		{name: "query", allow: []string{`request.query["tag"] == ["a", "b"] && request.query.tenant[0] == identity.claims.tenant`}, id: alice,
			r: req("GET", "/"), want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "client ip and host and scheme", allow: []string{`request.client_ip == "192.0.2.10" && request.host == "api.example.com" && request.scheme == "https"`},
			id: alice, r: req("GET", "/"), want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "claims and has", allow: []string{`has(identity.claims.tenant) && identity.claims.level >= 3 && !has(identity.claims.missing)`},
			id: alice, want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{name: "eval error in deny fails closed", allow: []string{`true`}, deny: []string{`identity.claims.missing == "x"`}, id: alice,
			want: Decision{Reason: ReasonEvalError, Rule: "deny[0]"}},
		{name: "eval error in allow then no allow", allow: []string{`identity.claims.missing == "x"`, `false`}, id: alice,
			want: Decision{Reason: ReasonEvalError, Rule: "allow[0]"}},
		{name: "eval error in allow, later allow holds", allow: []string{`identity.claims.missing == "x"`, `true`}, id: alice,
			want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[1]"}},
		{name: "anonymous identity", allow: []string{`identity.method == "anonymous" && !identity.authenticated && identity.subject == ""`},
			want: Decision{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := &RouteRules{Public: tt.public, Allow: rules(t, "allow", tt.allow...), Deny: rules(t, "deny", tt.deny...)}
			if tt.r.Path == "" {
				tt.r = req("GET", "/")
			}
			in := &Input{Identity: tt.id, Request: tt.r, Time: tt.now}
			got := rr.Decide(in)
			if (got.Err != nil) != (tt.want.Reason == ReasonEvalError) {
				t.Errorf("Err = %v", got.Err)
			}
			got.Err = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
			// Explain must reach the same decision and list every rule.
			in2 := &Input{Identity: tt.id, Request: tt.r, Time: tt.now}
			d2, trace := rr.Explain(in2)
			d2.Err = nil
			if diff := cmp.Diff(tt.want, d2); diff != "" {
				t.Errorf("explain decision (-want +got):\n%s", diff)
			}
			if len(trace) != len(tt.allow)+len(tt.deny) {
				t.Errorf("explain listed %d rules, want %d", len(trace), len(tt.allow)+len(tt.deny))
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, src string
		kind      Kind
		want      string
	}{
		{"syntax", `identity.subject ==`, KindRule, "Syntax error"},
		{"unknown field", `identity.subjekt == "a"`, KindRule, "undefined field 'subjekt'"},
		{"unknown variable", `user.name == "a"`, KindRule, "undeclared reference to 'user'"},
		{"not bool", `identity.subject`, KindRule, "returns string, not bool"},
		{"dyn", `identity.claims.admin`, KindRule, "identity.claims.admin == true"},
		{"type error", `identity.groups == "x"`, KindRule, "no matching overload"},
		{"empty", `  `, KindRule, "empty expression"},
		{"request in role", `request.method == "GET"`, KindIdentity, "roles and services see only identity"},
		{"cost", `identity.groups.all(a, identity.groups.all(b, a + b != "x"))`, KindRule, "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src, tt.kind)
			if err == nil {
				t.Fatal("Compile succeeded; want an error")
			}
			var ce *CompileError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCompile) {
				t.Fatalf("error %T %v is not a *CompileError wrapping ErrCompile", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	p := &Roles{
		Services: []Service{
			{Name: "billing", Match: mustCompile(t, `identity.service && identity.client_id == "billing-svc" && identity.issuer == "https://idp"`, KindIdentity), Roles: []string{"billing-writer", "reader"}},
			{Name: "any-service", Match: mustCompile(t, `identity.service`, KindIdentity), Roles: []string{"svc"}},
		},
		Roles: []Role{
			{Name: "admin", Program: mustCompile(t, `"platform-admins" in identity.groups`, KindIdentity)},
			{Name: "writer", Program: mustCompile(t, `"billing-writer" in identity.roles`, KindIdentity)},
		},
	}
	tests := []struct {
		name      string
		id        *identity.Identity
		wantRoles []string
		wantSvc   string
		same      bool
	}{
		{"human admin", alice, []string{"reader", "admin"}, "", false},
		{"billing service", billing, []string{"billing-writer", "reader", "writer"}, "billing", false},
		{"anonymous untouched", &identity.Anonymous, nil, "", true},
		{"nothing derived", &identity.Identity{Method: identity.MethodSession, Subject: "bob", Roles: []string{"x"}}, []string{"x"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := *tt.id
			beforeRoles := append([]string(nil), tt.id.Roles...)
			got, err := p.Derive(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantRoles, got.Roles); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if got.ServiceName != tt.wantSvc {
				t.Errorf("ServiceName = %q, want %q", got.ServiceName, tt.wantSvc)
			}
			if (got == tt.id) != tt.same {
				t.Errorf("returned the shared identity = %v, want %v", got == tt.id, tt.same)
			}
			if tt.id.ServiceName != before.ServiceName || !cmp.Equal(tt.id.Roles, beforeRoles) {
				t.Error("Derive changed the shared identity")
			}
		})
	}
	t.Run("error fails", func(t *testing.T) {
		bad := &Roles{Roles: []Role{{Name: "t", Program: mustCompile(t, `identity.claims.nope == 1`, KindIdentity)}}}
		_, err := bad.Derive(alice)
		var de *DeriveError
		if !errors.As(err, &de) || de.Rule != "policy.roles.t" {
			t.Fatalf("err = %v, want a DeriveError for policy.roles.t", err)
		}
	})
}

func TestCostLimitAtRuntime(t *testing.T) {
	// The static estimate assumes at most maxListItems groups; a token
	// with far more is stopped by the runtime limit, and that is an error.
	p := mustCompile(t, `identity.groups.exists(g, g.contains("abc"))`, KindRule)
	groups := make([]string, 100_000)
	for i := range groups {
		groups[i] = "g"
	}
	_, err := p.Eval(&Input{Identity: &identity.Identity{Method: identity.MethodBearer, Groups: groups}})
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("err = %v, want the cost limit", err)
	}
}

func TestCacheReuse(t *testing.T) {
	c1 := NewCache(nil)
	a, err := c1.Compile(`identity.subject == "a"`, KindRule)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Compile(`identity.subject == "b"`, KindRule); err != nil {
		t.Fatal(err)
	}
	c2 := NewCache(c1)
	a2, err := c2.Compile(`identity.subject == "a"`, KindRule)
	if err != nil {
		t.Fatal(err)
	}
	if a2 != a {
		t.Error("the same source was compiled again instead of reused")
	}
	// The same text as another kind is a different program.
	if k, _ := c2.Compile(`identity.subject == "a"`, KindIdentity); k == a {
		t.Error("kinds share a cache entry")
	}
	if n, hits := c2.Stats(); n != 2 || hits != 1 {
		t.Errorf("Stats = %d programs, %d hits; want 2, 1 (unused programs are dropped)", n, hits)
	}
	if _, err := c2.Compile(`nope(`, KindRule); err == nil {
		t.Error("bad source compiled")
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{`true`, `identity.subject == "a"`, `"x" in identity.groups`, `request.headers["a"] == "b"`,
		`request.query.a.exists(x, x.matches("^a+$"))`, `time.getHours("UTC") > 3`, `identity.claims.a.b.c == 1`, `[1,2,3].map(x, x*2).size() == 3`,
		`identity.groups + request.segments == request.segments + identity.groups`, `request.headers.exists(k, k in identity.groups || request.headers[k] in request.segments)`,
		`request.segments[1] in identity.roles && size(request.headers) > dyn(identity.scopes)[0].size()`} {
		f.Add(s)
	}
	in := &Input{Identity: alice, Request: req("GET", "/a/b"), Time: workday}
	f.Fuzz(func(t *testing.T, src string) {
		for _, k := range []Kind{KindRule, KindIdentity} {
			p, err := Compile(src, k)
			if err != nil {
				if !errors.Is(err, ErrCompile) {
					t.Fatalf("error %v does not wrap ErrCompile", err)
				}
				continue
			}
			// Whatever compiles must evaluate without panicking.
			_, _ = p.Eval(&Input{Identity: in.Identity, Request: in.Request, Time: in.Time})
		}
	})
}

func TestParseTests(t *testing.T) {
	good := `
- name: admin
  request: {method: POST, url: "https://h/x", headers: {X-A: b}, client_ip: 10.0.0.1}
  identity: {subject: a, groups: [g], claims: {t: 1}}
  time: "2026-03-04T10:00:00Z"
  expect: {decision: allow, reason: allowed_by, rule: r}
- name: anon
  request: {url: "https://h/"}
  expect: {decision: deny}
`
	cases, err := ParseTests([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 || cases[0].Line != 2 || cases[1].Identity != nil || cases[0].Identity.Identity().Method != identity.MethodBearer {
		t.Fatalf("cases %+v", cases)
	}
	bad := []struct{ name, src, want string }{
		{"unknown field", "- {name: a, request: {url: u}, expect: {decision: allow}, extra: 1}", "field extra not found"},
		{"no name", "- {request: {url: u}, expect: {decision: allow}}", "name is required"},
		{"bad decision", "- {name: a, request: {url: u}, expect: {decision: maybe}}", "allow or deny"},
		{"bad reason", "- {name: a, request: {url: u}, expect: {decision: deny, reason: nope}}", "unknown expect.reason"},
		{"dup", "- {name: a, request: {url: u}, expect: {decision: deny}}\n- {name: a, request: {url: u}, expect: {decision: deny}}", "already used at line 1"},
		{"not a list", "name: a", "want a list"},
		{"empty", "", "no test cases"},
		{"bad time", "- {name: a, request: {url: u}, time: yesterday, expect: {decision: deny}}", "time:"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTests([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParseTests(f *testing.F) {
	f.Add([]byte("- {name: a, request: {url: u}, expect: {decision: allow}}"))
	f.Add([]byte("- name: x\n  identity: {claims: {a: [1, {b: c}]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := ParseTests(data)
		if err == nil {
			for _, c := range cases {
				if c.Name == "" || c.Request.URL == "" {
					t.Fatalf("accepted an incomplete case %+v", c)
				}
			}
		}
	})
}
