package policy

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"

	"github.com/edgegate/edgegate/internal/identity"
)

// Reason is the typed reason of a decision.
type Reason string

const (
	// ReasonAllowedBy: an allow rule held (Decision.Rule names it).
	ReasonAllowedBy Reason = "allowed_by"
	// ReasonPublic: a public route without allow rules, and no deny rule held.
	ReasonPublic Reason = "public"
	// ReasonDeniedBy: a deny rule held (Decision.Rule names it).
	ReasonDeniedBy Reason = "denied_by"
	// ReasonNoAllowRule: the route needs an allow rule to hold and none did.
	ReasonNoAllowRule Reason = "no_allow_rule"
	// ReasonEvalError: a rule or role failed to evaluate, so the request
	// is refused (fail closed); Decision.Rule names it.
	ReasonEvalError Reason = "eval_error"
)

// Reasons lists every reason, for metrics and documentation.
var Reasons = []Reason{ReasonAllowedBy, ReasonPublic, ReasonDeniedBy, ReasonNoAllowRule, ReasonEvalError}

// Allows reports whether a decision with this reason lets the request in.
func (r Reason) Allows() bool { return r == ReasonAllowedBy || r == ReasonPublic }

// Decision is the outcome of one authorization.
type Decision struct {
	Allow  bool
	Reason Reason
	// Rule names the rule that decided ("routes[2].deny[0]" or the name
	// given in the file); empty for public and no_allow_rule.
	Rule string
	// Err is the evaluation error behind ReasonEvalError.
	Err error
}

// Rule is one named, compiled rule.
type Rule struct {
	Name    string
	Program *Program
}

// RouteRules are the compiled rules of one route.
type RouteRules struct {
	// Public routes (no authentication) let requests in when they have no
	// allow rules; authenticated routes need an allow rule to hold.
	Public      bool
	Allow, Deny []Rule
}

// Decide applies the route's rules to in. Deny rules run first and any
// that holds refuses the request; an error in a deny rule refuses it too,
// since it cannot be shown not to apply. Then the first allow rule that
// holds lets the request in. An allow rule that fails does not allow; when
// none allows and one failed, the decision is eval_error.
func (rr *RouteRules) Decide(in *Input) Decision {
	return rr.decide(in, nil)
}

// RuleResult is one rule's outcome in an explanation.
type RuleResult struct {
	// Effect is "allow" or "deny" (or "role" and "service" for derivations).
	Effect string
	Name   string
	Expr   string
	// Result is "true", "false", "error" or "skipped" (not evaluated
	// because the decision was already made).
	Result string
	Err    error
}

// Explain is Decide that also reports every rule, each evaluated even
// after the decision is known (shown as such).
func (rr *RouteRules) Explain(in *Input) (Decision, []RuleResult) {
	var out []RuleResult
	d := rr.decide(in, &out)
	return d, out
}

func (rr *RouteRules) decide(in *Input, trace *[]RuleResult) Decision {
	var d Decision
	decided := false
	note := func(effect string, r Rule, ok bool, err error) {
		if trace == nil {
			return
		}
		res := RuleResult{Effect: effect, Name: r.Name, Expr: r.Program.Source, Result: fmt.Sprint(ok), Err: err}
		if err != nil {
			res.Result = "error"
		}
		*trace = append(*trace, res)
	}
	for _, r := range rr.Deny {
		ok, err := r.Program.Eval(in)
		note("deny", r, ok, err)
		if decided {
			continue
		}
		switch {
		case err != nil:
			d, decided = Decision{Reason: ReasonEvalError, Rule: r.Name, Err: err}, true
		case ok:
			d, decided = Decision{Reason: ReasonDeniedBy, Rule: r.Name}, true
		}
		if decided && trace == nil {
			return d
		}
	}
	var failed *Decision
	for _, r := range rr.Allow {
		ok, err := r.Program.Eval(in)
		note("allow", r, ok, err)
		if decided {
			continue
		}
		switch {
		case err != nil:
			if failed == nil {
				failed = &Decision{Reason: ReasonEvalError, Rule: r.Name, Err: err}
			}
		case ok:
			d, decided = Decision{Allow: true, Reason: ReasonAllowedBy, Rule: r.Name}, true
			if trace == nil {
				return d
			}
		}
	}
	switch {
	case decided:
		return d
	case failed != nil:
		return *failed
	case len(rr.Allow) == 0 && rr.Public:
		return Decision{Allow: true, Reason: ReasonPublic}
	}
	return Decision{Reason: ReasonNoAllowRule}
}

// Role is a role granted to every identity its expression holds for.
type Role struct {
	Name    string
	Program *Program
}

// Service is a service identity: callers its match holds for get its name
// (identity.service_name) and its roles.
type Service struct {
	Name  string
	Match *Program
	Roles []string
}

// Roles derives roles and service identities from the verified identity.
type Roles struct {
	Roles    []Role
	Services []Service
}

// Empty reports whether nothing is ever derived.
func (p *Roles) Empty() bool { return p == nil || len(p.Roles) == 0 && len(p.Services) == 0 }

// DeriveError is a role or service expression that failed to evaluate.
type DeriveError struct {
	// Rule is "policy.roles.<name>" or "policy.services[<i>]".
	Rule string
	Err  error
}

func (e *DeriveError) Error() string { return e.Rule + ": " + e.Err.Error() }
func (e *DeriveError) Unwrap() error { return e.Err }

// Derive returns id with its service name and derived roles filled in, as
// a new Identity (id is shared with other requests and is never changed).
// Services are tried in order and the first that matches names the caller
// and adds its roles; then every role expression is evaluated with
// identity.roles holding the token's roles, the service's and the roles
// derived above it in the file. Roles keep
// that order: token, service, derived (in file order), without repeats.
// When nothing changes, id itself is returned. An evaluation error is a
// *DeriveError: the caller must refuse the request, since a role that
// could not be computed might have been one a deny rule looks for.
func (p *Roles) Derive(id *identity.Identity) (*identity.Identity, error) {
	return p.derive(id, nil)
}

// ExplainDerive is Derive that also reports each service and role
// expression evaluated.
func (p *Roles) ExplainDerive(id *identity.Identity) (*identity.Identity, []RuleResult, error) {
	var out []RuleResult
	d, err := p.derive(id, &out)
	return d, out, err
}

func (p *Roles) derive(id *identity.Identity, trace *[]RuleResult) (*identity.Identity, error) {
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
	// The roles list may have grown: a fresh Input lets the role
	// expressions see it.
	in = Input{Identity: &cp}
	roles := cp.Roles
	for _, r := range p.Roles {
		ok, err := r.Program.Eval(&in)
		note("role", "policy.roles."+r.Name, r.Program.Source, ok, err)
		if err != nil {
			return id, &DeriveError{Rule: "policy.roles." + r.Name, Err: err}
		}
		if ok && !slices.Contains(roles, r.Name) {
			// Later roles may build on this one.
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

func appendNew(dst []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(dst, a) {
			dst = append(dst, a)
		}
	}
	return dst
}

// Cache compiles expressions and keeps the programs by content (kind and
// source), so a reload reuses every program whose text did not change.
// Build the next snapshot's cache with NewCache(prev): it takes programs
// from prev and keeps only those used again, so it never grows with
// history.
type Cache struct {
	prev *Cache
	mu   sync.Mutex
	m    map[[32]byte]*Program
	hits int
}

// NewCache returns an empty cache that falls back to prev (may be nil).
func NewCache(prev *Cache) *Cache {
	if prev != nil {
		// Only one generation back: prev's own fallback is dropped.
		prev.mu.Lock()
		prev.prev = nil
		prev.mu.Unlock()
	}
	return &Cache{prev: prev, m: make(map[[32]byte]*Program)}
}

func cacheKey(src string, kind Kind) [32]byte {
	h := sha256.New()
	h.Write([]byte{byte(kind)})
	h.Write([]byte(src))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Compile returns the program for src, compiling it only when neither this
// cache nor its predecessor holds it.
func (c *Cache) Compile(src string, kind Kind) (*Program, error) {
	k := cacheKey(src, kind)
	c.mu.Lock()
	if p, ok := c.m[k]; ok {
		c.hits++
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	if c.prev != nil {
		c.prev.mu.Lock()
		p, ok := c.prev.m[k]
		c.prev.mu.Unlock()
		if ok {
			c.mu.Lock()
			c.m[k] = p
			c.hits++
			c.mu.Unlock()
			return p, nil
		}
	}
	p, err := Compile(src, kind)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m[k] = p
	c.mu.Unlock()
	return p, nil
}

// Stats returns how many programs the cache holds and how many lookups
// were answered without compiling.
func (c *Cache) Stats() (programs, hits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m), c.hits
}

// Set is the compiled policy of one configuration: role derivation and the
// rules of every route, by route index.
type Set struct {
	Roles  *Roles
	Routes []*RouteRules
}

// Route returns the rules of the route at index i, or nil.
func (s *Set) Route(i int) *RouteRules {
	if s == nil || i < 0 || i >= len(s.Routes) {
		return nil
	}
	return s.Routes[i]
}
