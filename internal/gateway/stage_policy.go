package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/httperr"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/policy"
	"github.com/edgegate/edgegate/internal/route"
)

// policyStage is the compiled policy (roles and route rules) of one snapshot.
type policyStage struct {
	set *policy.Set
	// cache holds this snapshot's programs; the next snapshot takes the
	// unchanged ones from it.
	cache *policy.Cache
	// counters[i][k] counts decisions of route i with reason policy.Reasons[k].
	counters [][]prometheus.Counter
	// now is the clock of the time variable (tests replace it).
	now func() time.Time
}

// CompilePolicy compiles the roles, service identities and route rules of
// cfg, taking programs from cache when it has them. Package config has
// already checked every expression, so an error here is unexpected.
func CompilePolicy(cfg *config.Config, cache *policy.Cache) (*policy.Set, error) {
	set := &policy.Set{Roles: &policy.Roles{}, Routes: make([]*policy.RouteRules, len(cfg.Routes))}
	for _, r := range cfg.Policy.Roles {
		p, err := cache.Compile(r.Expr, policy.KindIdentity)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.FieldPath, err)
		}
		set.Roles.Roles = append(set.Roles.Roles, policy.Role{Name: r.Name, Program: p})
	}
	for _, s := range cfg.Policy.Services {
		p, err := cache.Compile(s.Match, policy.KindIdentity)
		if err != nil {
			return nil, fmt.Errorf("%s.match: %w", s.FieldPath, err)
		}
		set.Roles.Services = append(set.Roles.Services, policy.Service{Name: s.Name, Match: p, Roles: s.Roles})
	}
	compile := func(rules []config.Rule) ([]policy.Rule, error) {
		var out []policy.Rule
		for _, r := range rules {
			p, err := cache.Compile(r.Expr, policy.KindRule)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.FieldPath, err)
			}
			out = append(out, policy.Rule{Name: r.Name, Program: p})
		}
		return out, nil
	}
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		rr := &policy.RouteRules{Public: rc.Auth.Public()}
		var err error
		if rr.Allow, err = compile(rc.Allow); err != nil {
			return nil, err
		}
		if rr.Deny, err = compile(rc.Deny); err != nil {
			return nil, err
		}
		set.Routes[i] = rr
	}
	return set, nil
}

func compilePolicy(cfg *config.Config, prev *Snapshot, g *Gateway) (*policyStage, error) {
	var prevCache *policy.Cache
	if prev != nil && prev.policy != nil {
		prevCache = prev.policy.cache
	}
	cache := policy.NewCache(prevCache)
	set, err := CompilePolicy(cfg, cache)
	if err != nil {
		return nil, fmt.Errorf("compile policy: %w", err)
	}
	// The folded programs are built now, beside the serving snapshot,
	// rather than on each route's first request after the swap.
	set.Prepare()
	ps := &policyStage{set: set, cache: cache, now: time.Now, counters: make([][]prometheus.Counter, len(cfg.Routes))}
	// Resolve the label sets once, so a decision costs one atomic add.
	for i, rc := range cfg.Routes {
		ps.counters[i] = make([]prometheus.Counter, len(policy.Reasons))
		for k, reason := range policy.Reasons {
			ps.counters[i][k] = g.metrics.Policy.Decisions.WithLabelValues(rc.Name, decisionLabel(reason.Allows()), string(reason))
		}
	}
	return ps, nil
}

func decisionLabel(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

func (ps *policyStage) count(i int, reason policy.Reason) {
	if i < 0 || i >= len(ps.counters) {
		return
	}
	for k, r := range policy.Reasons {
		if r == reason {
			ps.counters[i][k].Inc()
			return
		}
	}
}

// authorize decides whether id may make request r on route rt. It returns
// nil to let the request in, or an error to render (403 with the reason).
//
// Roles and the service identity are derived first, on a copy of the
// identity (the one authentication returned is shared across requests);
// the copy becomes st.ident so the identity assertion carries them.
func (g *Gateway) authorize(r *http.Request, snap *Snapshot, rt *route.Route, id *identity.Identity, st *reqState) error {
	ps := snap.policy
	idx := rt.Config.Index
	rules := ps.set.Route(idx)
	if rules == nil {
		// Every route has compiled rules; a miss is a bug, and a bug in
		// authorization refuses.
		return httperr.New(http.StatusInternalServerError, "policy.internal", "authorization is not available", fmt.Errorf("no compiled policy for route %q", rt.Name()))
	}
	if rules.Public && len(rules.Allow) == 0 && len(rules.Deny) == 0 {
		ps.count(idx, policy.ReasonPublic)
		return nil
	}
	d, derived := g.decide(r, ps, rules, id, st)
	ps.count(idx, d.Reason)
	if derived != nil {
		st.ident = derived
		id = derived
	}
	if (!rules.Public || !d.Allow) && g.auditing() {
		kind := audit.KindPolicyAllow
		if !d.Allow {
			kind = audit.KindPolicyDeny
		}
		e := audit.Event{
			Time: time.Now(), Kind: kind, RequestID: st.id, Route: st.route, Method: r.Method,
			Host: st.hy.Host, Path: st.hy.Path, Subject: id.Subject, Issuer: id.Issuer, Roles: id.Roles,
			Decision: decisionLabel(d.Allow), Reason: string(d.Reason), Rule: d.Rule, Fingerprint: id.Fingerprint,
		}
		if st.hy.ClientIP.IsValid() {
			e.ClientIP = st.hy.ClientIP.String()
		}
		if id.ServiceName != "" {
			e.Detail = map[string]string{"service": id.ServiceName}
		}
		if d.Err != nil {
			// The error names the rule's fields, never request values
			// beyond what the event already holds.
			if e.Detail == nil {
				e.Detail = map[string]string{}
			}
			e.Detail["error"] = d.Err.Error()
		}
		// record's error is already the 503 to answer with.
		if err := g.record(r.Context(), e); err != nil {
			return err
		}
	}
	if d.Allow {
		return nil
	}
	return denied(d)
}

// decide derives roles and applies the route's rules. derived is the
// identity with derived roles when it differs from id.
func (g *Gateway) decide(r *http.Request, ps *policyStage, rules *policy.RouteRules, id *identity.Identity, st *reqState) (policy.Decision, *identity.Identity) {
	d, err := ps.set.Roles.Derive(id)
	if err != nil {
		rule := ""
		var de *policy.DeriveError
		if errors.As(err, &de) {
			rule = de.Rule
		}
		g.log.LogAttrs(r.Context(), slog.LevelWarn, "policy role evaluation failed", slog.String("request_id", st.id), slog.String("rule", rule), slog.String("err", err.Error()))
		return policy.Decision{Reason: policy.ReasonEvalError, Rule: rule, Err: err}, nil
	}
	// The input lives in the request state, which is on the heap anyway.
	in := &st.policyIn
	*in = policy.Input{
		Identity: d,
		Request: policy.Request{
			Method: r.Method, Host: st.hy.Host, Path: st.hy.Path, RawQuery: r.URL.RawQuery,
			Scheme: st.hy.Scheme, ClientIP: st.hy.ClientIP, Header: r.Header,
		},
		Time: ps.now(),
	}
	dec := rules.Decide(in)
	if dec.Reason == policy.ReasonEvalError {
		g.log.LogAttrs(r.Context(), slog.LevelWarn, "policy rule evaluation failed", slog.String("request_id", st.id), slog.String("rule", dec.Rule), slog.String("err", dec.Err.Error()))
	}
	if d != id {
		return dec, d
	}
	return dec, nil
}

// denied is the 403 of a policy decision. The public message names the
// reason code and the rule's name (both are in the file the operator
// wrote and help a caller ask for access); never the expression.
func denied(d policy.Decision) *httperr.Error {
	var b strings.Builder
	b.WriteString("access denied by policy (")
	b.WriteString(string(d.Reason))
	if d.Rule != "" {
		b.WriteString(": ")
		b.WriteString(d.Rule)
	}
	b.WriteString(")")
	return httperr.New(http.StatusForbidden, "policy.denied", b.String(), d.Err)
}
