package policy

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgegate/edgegate/internal/identity"
)

// The references below are the rules of Decide and Derive written the
// plain way: every expression evaluated on an activation of its own, and a
// derivation that copies the identity and starts afresh after each role.
// Decide and Derive share one pooled activation and its cached values
// across the expressions of a call; the tests compare them with these.

func referenceDecide(rr *RouteRules, in *Input) Decision {
	for _, r := range rr.Deny {
		ok, err := r.Program.Eval(in)
		switch {
		case err != nil:
			return Decision{Reason: ReasonEvalError, Rule: r.Name, Err: err}
		case ok:
			return Decision{Reason: ReasonDeniedBy, Rule: r.Name}
		}
	}
	var failed *Decision
	for _, r := range rr.Allow {
		ok, err := r.Program.Eval(in)
		switch {
		case err != nil:
			if failed == nil {
				failed = &Decision{Reason: ReasonEvalError, Rule: r.Name, Err: err}
			}
		case ok:
			return Decision{Allow: true, Reason: ReasonAllowedBy, Rule: r.Name}
		}
	}
	switch {
	case failed != nil:
		return *failed
	case len(rr.Allow) == 0 && rr.Public:
		return Decision{Allow: true, Reason: ReasonPublic}
	}
	return Decision{Reason: ReasonNoAllowRule}
}

func referenceDerive(p *Roles, id *identity.Identity, trace *[]RuleResult) (*identity.Identity, error) {
	if p.Empty() || !id.Authenticated() {
		return id, nil
	}
	note := func(effect, name, src string, ok bool, err error) {
		if trace == nil {
			return
		}
		res := RuleResult{Effect: effect, Name: name, Expr: src, Result: fmt.Sprint(ok), Err: err}
		if err != nil {
			res.Result = "error"
		}
		*trace = append(*trace, res)
	}
	cp := *id
	in := Input{Identity: &cp}
	matched := false
	for i, s := range p.Services {
		name := fmt.Sprintf("policy.services[%d]", i)
		if matched {
			if trace != nil {
				*trace = append(*trace, RuleResult{Effect: "service", Name: name + " " + s.Name, Expr: s.Match.Source, Result: "skipped"})
			}
			continue
		}
		ok, err := s.Match.Eval(&in)
		note("service", name+" "+s.Name, s.Match.Source, ok, err)
		if err != nil {
			return id, &DeriveError{Rule: name, Err: err}
		}
		if ok {
			matched = true
			cp.ServiceName = s.Name
			cp.Roles = appendNew(slices.Clip(id.Roles), s.Roles...)
		}
	}
	in = Input{Identity: &cp}
	roles := cp.Roles
	for _, r := range p.Roles {
		ok, err := r.Program.Eval(&in)
		note("role", "policy.roles."+r.Name, r.Program.Source, ok, err)
		if err != nil {
			return id, &DeriveError{Rule: "policy.roles." + r.Name, Err: err}
		}
		if ok && !slices.Contains(roles, r.Name) {
			roles = appendNew(slices.Clip(roles), r.Name)
			cp.Roles = roles
			in = Input{Identity: &cp}
		}
	}
	cp.Roles = roles
	if cp.ServiceName == id.ServiceName && len(cp.Roles) == len(id.Roles) {
		return id, nil
	}
	return &cp, nil
}

// errText compares errors by message: the same error, not merely an
// error.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type decisionView struct {
	Allow  bool
	Reason Reason
	Rule   string
	Err    string
}

func viewOf(d Decision) decisionView {
	return decisionView{Allow: d.Allow, Reason: d.Reason, Rule: d.Rule, Err: errText(d.Err)}
}

// ruleMix are rules that hold, do not hold or fail depending on the input.
var ruleMix = []string{
	`true`,
	`false`,
	`"eng" in identity.groups`,
	`"ops" in identity.groups`,
	`identity.claims.missing == "x"`,     // always an error: no such key
	`identity.claims.tenant == "acme"`,   // an error without the claim
	`request.headers["x-env"] == "prod"`, // an error without the header
	`request.method == "POST"`,
	`request.path.startsWith("/admin")`,
	`request.segments.size() > 2`,
	`request.segments[0] == "admin"`, // an error for "/"
	`identity.service`,
	`"reader" in identity.roles`,
	`has(identity.claims.level) && identity.claims.level >= 3`,
	`request.query.tag[0] == "a"`,            // an error without the parameter
	`1 / (request.segments.size() - 1) == 1`, // division by zero on one segment
	`identity.email.endsWith("@example.com") // a trailing comment must not swallow the fold`,
	`identity.groups.exists(g, g.matches("^plat"))`, // metered at run time
	`"x-env" in request.headers && !("x-debug" in request.headers)`,
	`request.method == "GET" && request.path.startsWith("/api") && request.method != "HEAD"`,
}

func mixInputs() []*Input {
	bob := &identity.Identity{Method: identity.MethodSession, Subject: "bob", Email: "bob@example.com",
		Groups: []string{"ops"}, Claims: map[string]any{"level": float64(1)}}
	reqs := []Request{
		req("GET", "/api/orders"),
		req("POST", "/admin/users/x"),
		req("GET", "/"),
		req("DELETE", "/admin"),
		{Method: "GET", Path: "/admin/a", Header: http.Header{"X-Debug": {"1"}}},
	}
	var out []*Input
	for _, id := range []*identity.Identity{alice, billing, bob, nil} {
		for _, r := range reqs {
			out = append(out, &Input{Identity: id, Request: r, Time: workday})
		}
	}
	return out
}

// TestDecideMatchesReference compares Decide with the reference over many
// random routes and inputs: the same decision, rule and error.
func TestDecideMatchesReference(t *testing.T) {
	progs := make([]*Program, len(ruleMix))
	for i, s := range ruleMix {
		progs[i] = mustCompile(t, s, KindRule)
	}
	pick := func(r *rand.Rand, prefix string, n int) []Rule {
		var out []Rule
		for i := range n {
			k := r.IntN(len(progs))
			out = append(out, Rule{Name: fmt.Sprintf("%s[%d] %s", prefix, i, ruleMix[k]), Program: progs[k]})
		}
		return out
	}
	r := rand.New(rand.NewPCG(4, 1))
	inputs := mixInputs()
	reasons := map[Reason]int{}
	for route := range 300 {
		rr := &RouteRules{Public: r.IntN(3) == 0, Deny: pick(r, "deny", r.IntN(4)), Allow: pick(r, "allow", r.IntN(7))}
		for i, in := range inputs {
			got := rr.Decide(in)
			want := referenceDecide(rr, in)
			if diff := cmp.Diff(viewOf(want), viewOf(got)); diff != "" {
				t.Fatalf("route %d, input %d: Decide differs from the reference (-reference +Decide):\n%s", route, i, diff)
			}
			ed, trace := rr.Explain(in)
			if diff := cmp.Diff(viewOf(want), viewOf(ed)); diff != "" || len(trace) != len(rr.Allow)+len(rr.Deny) {
				t.Fatalf("route %d, input %d: Explain differs (%d rules listed):\n%s", route, i, len(trace), diff)
			}
			reasons[got.Reason]++
		}
	}
	// The random routes must reach every outcome.
	for _, reason := range Reasons {
		if reasons[reason] == 0 {
			t.Errorf("no route decided %s", reason)
		}
	}
}

// TestDecideErrorsAroundMatch spells out where an error sits relative to
// the rule that decides.
func TestDecideErrorsAroundMatch(t *testing.T) {
	const bad = `identity.claims.missing == "x"`
	tests := []struct {
		name        string
		deny, allow []string
		want        decisionView
	}{
		{"deny error before deny match", []string{bad, `true`}, []string{`true`},
			decisionView{Reason: ReasonEvalError, Rule: "deny[0]", Err: "no such key: missing"}},
		{"deny error after deny match", []string{`true`, bad}, []string{`true`},
			decisionView{Reason: ReasonDeniedBy, Rule: "deny[0]"}},
		{"deny error before allow match", []string{`false`, bad}, []string{`true`},
			decisionView{Reason: ReasonEvalError, Rule: "deny[1]", Err: "no such key: missing"}},
		{"allow error before allow match", nil, []string{`false`, bad, `true`},
			decisionView{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[2]"}},
		{"allow error after allow match", nil, []string{`true`, bad},
			decisionView{Allow: true, Reason: ReasonAllowedBy, Rule: "allow[0]"}},
		{"allow errors and no match: the first error", nil, []string{`false`, bad, `request.headers["nope"] == "1"`, `false`},
			decisionView{Reason: ReasonEvalError, Rule: "allow[1]", Err: "no such key: missing"}},
		{"no error, no match", []string{`false`}, []string{`false`, `false`},
			decisionView{Reason: ReasonNoAllowRule}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := &RouteRules{Deny: rules(t, "deny", tt.deny...), Allow: rules(t, "allow", tt.allow...)}
			in := &Input{Identity: alice, Request: req("GET", "/"), Time: workday}
			if diff := cmp.Diff(tt.want, viewOf(rr.Decide(in))); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecideCostLimit: a rule metered at run time stops at the cost limit
// inside a decision too, and the error names it.
func TestDecideCostLimit(t *testing.T) {
	const costly = `identity.groups.exists(g, g.contains("abc"))`
	groups := make([]string, 100_000)
	for i := range groups {
		groups[i] = "g"
	}
	in := &Input{Identity: &identity.Identity{Method: identity.MethodBearer, Groups: groups}, Request: req("GET", "/")}
	// An allow rule that fails does not stop the others.
	rr := &RouteRules{Allow: rules(t, "allow", `false`, costly, `true`)}
	if d := rr.Decide(in); !d.Allow || d.Rule != "allow[2]" {
		t.Errorf("decision %+v, want allowed by allow[2]", d)
	}
	rr = &RouteRules{Deny: rules(t, "deny", `false`, costly), Allow: rules(t, "allow", `true`)}
	if d := rr.Decide(in); d.Reason != ReasonEvalError || d.Rule != "deny[1]" || !strings.Contains(errText(d.Err), "cost limit") {
		t.Errorf("decision %+v, want eval_error of deny[1] at the cost limit", d)
	}
}

// TestFoldSteps checks how a route's rules are grouped: consecutive rules
// share a program up to foldChunk, rules metered at run time stay alone,
// and a long route still finds its last rule.
func TestFoldSteps(t *testing.T) {
	const metered = `identity.groups.exists(g, g.matches("^plat"))`
	if !mustCompile(t, metered, KindRule).metered {
		t.Fatalf("%s is not metered; pick a costlier expression", metered)
	}
	allow := make([]string, 40)
	for i := range allow {
		allow[i] = fmt.Sprintf(`request.path == "/p%d"`, i)
	}
	allow[20] = metered
	allow[39] = `"eng" in identity.groups`
	rr := &RouteRules{Deny: rules(t, "deny", `false`, `identity.subject == "mallory"`), Allow: rules(t, "allow", allow...)}
	rr.Prepare()
	var shape []string
	for _, s := range rr.fold.steps {
		kind := "fold"
		if s.single != nil {
			kind = "single"
		}
		shape = append(shape, fmt.Sprintf("%s %d+%d", kind, s.lo, s.n))
	}
	// 42 rules: 0..21 before the metered one (22), 23..41 after it.
	want := []string{"fold 0+16", "fold 16+6", "single 22+1", "fold 23+16", "fold 39+3"}
	if diff := cmp.Diff(want, shape); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	eng := &identity.Identity{Method: identity.MethodBearer, Groups: []string{"eng"}}
	for _, tc := range []struct {
		id   *identity.Identity
		path string
		want string
	}{
		{eng, "/x", rr.Allow[39].Name},
		{alice, "/p7", rr.Allow[7].Name},
		{alice, "/p20", rr.Allow[20].Name}, // the metered rule holds for alice's platform-admins
		{alice, "/p30", rr.Allow[20].Name},
		{eng, "/p30", rr.Allow[30].Name},
	} {
		in := &Input{Identity: tc.id, Request: req("GET", tc.path), Time: workday}
		if got := rr.Decide(in); got.Rule != tc.want || got != referenceDecide(rr, in) {
			t.Errorf("%s: decision %+v, want allowed by %s", tc.path, got, tc.want)
		}
	}
}

func TestChainSource(t *testing.T) {
	srcs := []string{`false // not this one`, `true // nor the closing parenthesis`, `true`}
	p, err := compileInt(chainSource(srcs), KindRule)
	if err != nil {
		t.Fatalf("compile %q: %v", chainSource(srcs), err)
	}
	var act activation
	act.reset(&Input{Identity: alice, Request: req("GET", "/")})
	out, _, err := p.Eval(&act)
	if err != nil || fmt.Sprint(out) != "2" {
		t.Errorf("folded program = %v, %v; want 2, the first rule that holds", out, err)
	}
}

// roleMix are role and service expressions; some read identity.roles, so
// they see the roles derived above them, and some fail.
var roleMix = []string{
	`true`,
	`false`,
	`"platform-admins" in identity.groups`,
	`identity.email.endsWith("@example.com")`,
	`identity.claims.missing == 1`, // always an error
	`identity.claims.tenant == "acme"`,
	`"r0" in identity.roles`,
	`identity.roles.exists(r, r.startsWith("r2"))`,
	`identity.service && identity.client_id == "billing-svc"`,
	`identity.service_name == "svc0"`,
	`size(identity.roles) >= 2`,
	`has(identity.roles) && identity.roles[0] == "reader"`,
	`identity.groups.exists(g, g.matches("^plat"))`, // metered
}

// TestDeriveMatchesReference compares Derive and ExplainDerive with the
// reference over many random role sets: the same roles, service name,
// error and trace, the shared identity returned when nothing changes and
// never written.
func TestDeriveMatchesReference(t *testing.T) {
	progs := make([]*Program, len(roleMix))
	for i, s := range roleMix {
		progs[i] = mustCompile(t, s, KindIdentity)
	}
	ids := []*identity.Identity{alice, billing, {Method: identity.MethodSession, Subject: "bob", Roles: []string{"r0", "x"}}, &identity.Anonymous}
	r := rand.New(rand.NewPCG(7, 3))
	type view struct {
		Same    bool
		Service string
		Roles   []string
		Err     string
	}
	outcomes := map[string]int{}
	for set := range 300 {
		p := &Roles{}
		for i := range r.IntN(3) {
			k := r.IntN(len(progs))
			p.Services = append(p.Services, Service{Name: fmt.Sprintf("svc%d", i), Match: progs[k], Roles: []string{fmt.Sprintf("s%d", r.IntN(3)), "r0"}})
		}
		for i := range r.IntN(12) {
			k := r.IntN(len(progs))
			p.Roles = append(p.Roles, Role{Name: fmt.Sprintf("r%d", i), Program: progs[k]})
		}
		for i, id := range ids {
			before := *id
			beforeRoles := slices.Clone(id.Roles)
			got, gerr := p.Derive(id)
			var wantTrace []RuleResult
			want, werr := referenceDerive(p, id, &wantTrace)
			gv := view{Same: got == id, Service: got.ServiceName, Roles: got.Roles, Err: errText(gerr)}
			wv := view{Same: want == id, Service: want.ServiceName, Roles: want.Roles, Err: errText(werr)}
			if diff := cmp.Diff(wv, gv); diff != "" {
				t.Fatalf("set %d, identity %d: Derive differs from the reference (-reference +Derive):\n%s", set, i, diff)
			}
			_, gotTrace, _ := p.ExplainDerive(id)
			if diff := cmp.Diff(wantTrace, gotTrace, cmp.Comparer(func(a, b error) bool { return errText(a) == errText(b) })); diff != "" {
				t.Fatalf("set %d, identity %d: ExplainDerive's trace differs (-reference +got):\n%s", set, i, diff)
			}
			if id.ServiceName != before.ServiceName || !slices.Equal(id.Roles, beforeRoles) {
				t.Fatalf("set %d: Derive changed the shared identity", set)
			}
			switch {
			case gerr != nil:
				outcomes["error"]++
			case got == id:
				outcomes["same"]++
			default:
				outcomes["derived"]++
			}
		}
	}
	for _, o := range []string{"error", "same", "derived"} {
		if outcomes[o] == 0 {
			t.Errorf("no derivation ended %s", o)
		}
	}
}

// TestDeriveRolesBuildOnEachOther: a role sees the roles derived above it
// through the one activation of the derivation, and the roles it returns
// have no spare capacity another reader could append into.
func TestDeriveRolesBuildOnEachOther(t *testing.T) {
	p := &Roles{Roles: []Role{
		{Name: "admin", Program: mustCompile(t, `"platform-admins" in identity.groups`, KindIdentity)},
		{Name: "super", Program: mustCompile(t, `"admin" in identity.roles && "staff" in identity.roles`, KindIdentity)},
		{Name: "staff", Program: mustCompile(t, `identity.email.endsWith("@example.com")`, KindIdentity)},
		{Name: "super2", Program: mustCompile(t, `"admin" in identity.roles && "staff" in identity.roles && size(identity.roles) == 3`, KindIdentity)},
	}}
	got, err := p.Derive(alice)
	if err != nil {
		t.Fatal(err)
	}
	// super is evaluated before staff exists; super2 after.
	if want := []string{"reader", "admin", "staff", "super2"}; !slices.Equal(got.Roles, want) {
		t.Errorf("roles %v, want %v", got.Roles, want)
	}
	if cap(got.Roles) != len(got.Roles) {
		t.Errorf("derived roles have spare capacity %d", cap(got.Roles)-len(got.Roles))
	}
}

// TestDecideConcurrent: decisions and derivations on shared rules from
// many goroutines, each with its pooled activation (run with -race).
func TestDecideConcurrent(t *testing.T) {
	rr := &RouteRules{Deny: rules(t, "deny", `identity.subject == "mallory"`), Allow: rules(t, "allow", `"ops" in identity.groups`, `"eng" in identity.groups && request.path == "/p"`)}
	p := &Roles{Roles: []Role{
		{Name: "admin", Program: mustCompile(t, `"platform-admins" in identity.groups`, KindIdentity)},
		{Name: "staff", Program: mustCompile(t, `identity.email.endsWith("@example.com")`, KindIdentity)},
	}}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id, err := p.Derive(alice)
				if err != nil || !slices.Equal(id.Roles, []string{"reader", "admin", "staff"}) {
					errs <- fmt.Sprintf("Derive = %v, %v", id.Roles, err)
					return
				}
				// Every other request misses, so a value cached for one
				// request showing in another would be seen.
				path, want := "/p", "allow[1]"
				if (g+i)%2 == 1 {
					path, want = "/q", ""
				}
				if d := rr.Decide(&Input{Identity: id, Request: req("GET", path)}); d.Rule != want {
					errs <- fmt.Sprintf("Decide(%s) = %+v", path, d)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
