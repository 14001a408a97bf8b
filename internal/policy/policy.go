package policy

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
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

	// fold holds the folded programs (fold.go), built on first use or by
	// Prepare; Allow and Deny must not change after that.
	fold struct {
		once  sync.Once
		steps []foldStep
	}
	acts actPool
}

// Prepare compiles the folded programs Decide uses (about a millisecond
// for ten rules), so that the first request does not wait for it. Decide
// calls it itself when needed.
func (rr *RouteRules) Prepare() {
	rr.fold.once.Do(func() { rr.fold.steps = ruleSteps(rr) })
}

// Decide applies the route's rules to in. Deny rules run first and any
// that holds refuses the request; an error in a deny rule refuses it too,
// since it cannot be shown not to apply. Then the first allow rule that
// holds lets the request in. An allow rule that fails does not allow; when
// none allows and one failed, the decision is eval_error.
//
// The rules run folded (see fold.go); when a folded program fails, they
// run again one by one, so the decision and the rule it names are those of
// the plain loop. All the rules of a decision share one activation, so a
// list, map or string built for one serves the others.
func (rr *RouteRules) Decide(in *Input) Decision {
	rr.Prepare()
	act := rr.acts.get(in)
	defer rr.acts.put(act)
	nd := len(rr.Deny)
	for i := range rr.fold.steps {
		k, err := rr.fold.steps[i].first(act)
		switch {
		case err != nil:
			return rr.decide(act, nil)
		case k < 0:
			continue
		case k < nd:
			return Decision{Reason: ReasonDeniedBy, Rule: rr.Deny[k].Name}
		}
		return Decision{Allow: true, Reason: ReasonAllowedBy, Rule: rr.Allow[k-nd].Name}
	}
	if len(rr.Allow) == 0 && rr.Public {
		return Decision{Allow: true, Reason: ReasonPublic}
	}
	return Decision{Reason: ReasonNoAllowRule}
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
	act := rr.acts.get(in)
	defer rr.acts.put(act)
	var out []RuleResult
	d := rr.decide(act, &out)
	return d, out
}

// decide is the plain loop, one evaluation per rule.
func (rr *RouteRules) decide(act *activation, trace *[]RuleResult) Decision {
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
		ok, err := r.Program.evalAct(act)
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
		ok, err := r.Program.evalAct(act)
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

	acts actPool
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
	serviceRule := func(i int) string { return "policy.services[" + strconv.Itoa(i) + "]" }
	// The expressions read id until something is derived; only then is it
	// copied, so an identity that gains nothing costs no copy.
	act := p.acts.get(&Input{Identity: id})
	defer p.acts.put(act)
	var cp *identity.Identity
	change := func() {
		if cp != nil {
			return
		}
		c := *id
		cp = &c
		// The activation reads identity.roles and service_name from cp
		// from now on; its other cached values (groups, claims) are cp's
		// too.
		act.ident.id = cp
		// Room for every role that can be added, so they append in place
		// (the slice is new: id.Roles is never written).
		n := len(id.Roles) + len(p.Roles)
		for _, s := range p.Services {
			n += len(s.Roles)
		}
		cp.Roles = append(make([]string, 0, n), id.Roles...)
	}
	matched := false
	for i, s := range p.Services {
		if matched {
			if trace != nil {
				*trace = append(*trace, RuleResult{Effect: "service", Name: serviceRule(i) + " " + s.Name, Expr: s.Match.Source, Result: "skipped"})
			}
			continue
		}
		ok, err := s.Match.evalAct(act)
		if trace != nil {
			note("service", serviceRule(i)+" "+s.Name, s.Match.Source, ok, err)
		}
		if err != nil {
			return id, &DeriveError{Rule: serviceRule(i), Err: err}
		}
		if ok {
			matched = true
			change()
			cp.ServiceName = s.Name
			cp.Roles = appendNew(cp.Roles, s.Roles...)
		}
	}
	for _, r := range p.Roles {
		ok, err := r.Program.evalAct(act)
		if trace != nil {
			note("role", "policy.roles."+r.Name, r.Program.Source, ok, err)
		}
		if err != nil {
			return id, &DeriveError{Rule: "policy.roles." + r.Name, Err: err}
		}
		// Later roles may build on this one: identity.roles is read
		// from act.ident.id at every use.
		if ok && !slices.Contains(act.ident.id.Roles, r.Name) {
			change()
			cp.Roles = append(cp.Roles, r.Name)
		}
	}
	if cp == nil || cp.ServiceName == id.ServiceName && len(cp.Roles) == len(id.Roles) {
		return id, nil
	}
	// Whoever appends to the roles later gets a slice of their own.
	cp.Roles = slices.Clip(cp.Roles)
	return cp, nil
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

// Prepare compiles the folded programs of every route, which Decide
// otherwise builds on a route's first request.
func (s *Set) Prepare() {
	if s == nil {
		return
	}
	for _, rr := range s.Routes {
		if rr != nil {
			rr.Prepare()
		}
	}
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
