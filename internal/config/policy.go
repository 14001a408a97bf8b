package config

import (
	"github.com/edgegate/edgegate/internal/policy"
)

// Policy is the validated roles and service identities. Expressions are
// kept as text: they have been compiled once here to report errors, and
// the gateway compiles them into its snapshot (reusing unchanged ones).
type Policy struct {
	// Roles in file order.
	Roles    []Role
	Services []Service
	// TestsFile is the resolved path of the policy tests file, or "".
	TestsFile string
}

// Role is one derived role.
type Role struct {
	Name string
	// Expr is CEL over identity.
	Expr string
	// FieldPath is "policy.roles.<name>".
	FieldPath string
}

// Service is one service identity.
type Service struct {
	Name string
	// Match is CEL over identity.
	Match string
	Roles []string
	// FieldPath is "policy.services[<i>]".
	FieldPath string
}

// Rule is one validated route rule.
type Rule struct {
	// Name is the name given in the file, or the rule's field path.
	Name string
	// Expr is CEL over identity, request and time.
	Expr string
	// FieldPath is "routes[<i>].allow[<j>]" or "routes[<i>].deny[<j>]".
	FieldPath string
}

// cel reports a CEL compile error of the expression at path.
func (v *validator) cel(path, src string, kind policy.Kind) {
	if err := policy.Check(src, kind); err != nil {
		v.errorf(path, "invalid CEL expression: %v", err)
	}
}

func (v *validator) policy(raw *RawConfig) Policy {
	var p Policy
	r := raw.Policy
	for _, h := range r.Roles {
		path := "policy.roles." + h.Name
		if err := checkName(h.Name); err != nil {
			v.errorf(path, "role name: %v", err)
			continue
		}
		// Parse rejects duplicate keys, so names are unique here.
		v.cel(path, h.Value, policy.KindIdentity)
		p.Roles = append(p.Roles, Role{Name: h.Name, Expr: h.Value, FieldPath: path})
	}
	names := make(map[string]int)
	for i, s := range r.Services {
		sp := idx("policy.services", i)
		svc := Service{FieldPath: sp}
		if s.Name == nil {
			v.errorf(sp+".name", "required: the service's name, such as billing")
		} else {
			svc.Name = *s.Name
			if err := checkName(svc.Name); err != nil {
				v.errorf(sp+".name", "%v", err)
			} else if first, dup := names[svc.Name]; dup {
				v.errorf(sp+".name", "service name %q is already used by policy.services[%d]; names must be unique", svc.Name, first)
			} else {
				names[svc.Name] = i
			}
		}
		if s.Match == nil {
			v.errorf(sp+".match", `required: a CEL expression that recognises the service, such as identity.client_id == "billing-svc"`)
		} else {
			svc.Match = *s.Match
			v.cel(sp+".match", svc.Match, policy.KindIdentity)
		}
		roleSeen := make(map[string]int)
		for j, role := range s.Roles {
			rp := idx(sp+".roles", j)
			if err := checkName(role); err != nil {
				v.errorf(rp, "role name: %v", err)
				continue
			}
			if first, dup := roleSeen[role]; dup {
				v.errorf(rp, "role %q is listed twice (also roles[%d])", role, first)
				continue
			}
			roleSeen[role] = j
			svc.Roles = append(svc.Roles, role)
		}
		p.Services = append(p.Services, svc)
	}
	if r.TestsFile != nil {
		if resolved, _, ok := v.readFile("policy.tests_file", *r.TestsFile, maxMapFileBytes); ok {
			p.TestsFile = resolved
		}
	}
	return p
}

func (v *validator) routeRules(rp string, r *RawRoute) (allow, deny []Rule) {
	return v.rules(rp+".allow", r.Allow), v.rules(rp+".deny", r.Deny)
}

func (v *validator) rules(base string, raws []RawRule) []Rule {
	var out []Rule
	names := make(map[string]int)
	for j, rr := range raws {
		path := idx(base, j)
		rule := Rule{Name: path, FieldPath: path}
		if rr.Name != nil {
			if err := checkName(*rr.Name); err != nil {
				v.errorf(path+".name", "%v", err)
			} else if first, dup := names[*rr.Name]; dup {
				v.errorf(path+".name", "rule name %q is already used by %s; names must be unique within a list", *rr.Name, idx(base, first))
			} else {
				names[*rr.Name] = j
			}
			rule.Name = *rr.Name
		}
		if rr.Expr == nil {
			v.errorf(path+".expr", "required: a CEL expression that returns true or false")
			continue
		}
		rule.Expr = *rr.Expr
		v.cel(path+".expr", rule.Expr, policy.KindRule)
		out = append(out, rule)
	}
	return out
}
