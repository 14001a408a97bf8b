package policy

import (
	"fmt"
	"testing"
)

// BenchmarkEvalRule is one rule evaluation with a fresh Input per
// iteration, as on the request path.
func BenchmarkEvalRule(b *testing.B) {
	p := mustCompile(b, `request.method in ["GET", "HEAD"] && request.path.startsWith("/api/") && ("admin" in identity.roles || (identity.claims.tenant == "acme" && "reader" in identity.roles))`, KindRule)
	r := req("GET", "/api/orders")
	b.ReportAllocs()
	for b.Loop() {
		in := Input{Identity: alice, Request: r, Time: workday}
		ok, err := p.Eval(&in)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkDecideTenRules is a route of two deny and eight allow rules
// where the last allow rule decides: every rule runs.
func BenchmarkDecideTenRules(b *testing.B) {
	srcs := []string{
		`"x-debug" in request.headers && request.headers["x-debug"] == "1"`,
		`identity.email.endsWith("@blocked.example")`,
	}
	allows := []string{
		`"ops" in identity.groups`,
		`identity.service && identity.client_id == "billing-svc"`,
		`request.method == "DELETE" && "admin" in identity.roles`,
		`request.path.startsWith("/internal/")`,
		`identity.issuer == "https://other"`,
		`"billing:write" in identity.scopes`,
		`request.segments.size() > 5`,
		`"eng" in identity.groups && request.method in ["GET", "HEAD"] && request.path.startsWith("/api/")`,
	}
	rr := &RouteRules{Deny: rules(b, "deny", srcs...), Allow: rules(b, "allow", allows...)}
	r := req("GET", "/api/orders")
	b.ReportAllocs()
	for b.Loop() {
		in := Input{Identity: alice, Request: r, Time: workday}
		if d := rr.Decide(&in); !d.Allow {
			b.Fatal(d)
		}
	}
}

// BenchmarkDerive is role derivation with three roles and one service.
func BenchmarkDerive(b *testing.B) {
	p := &Roles{
		Services: []Service{{Name: "billing", Match: mustCompile(b, `identity.service && identity.client_id == "billing-svc"`, KindIdentity), Roles: []string{"w"}}},
	}
	for i, src := range []string{`"platform-admins" in identity.groups`, `identity.email.endsWith("@example.com")`, `"ops" in identity.groups`} {
		p.Roles = append(p.Roles, Role{Name: fmt.Sprint("r", i), Program: mustCompile(b, src, KindIdentity)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Derive(alice); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		mustCompile(b, `"platform-admins" in identity.groups && request.path.startsWith("/api/")`, KindRule)
	}
}
