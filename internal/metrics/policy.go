package metrics

import "github.com/prometheus/client_golang/prometheus"

// PolicyMetrics are the collectors of policy decisions.
type PolicyMetrics struct {
	// Decisions counts authorization decisions by route, decision (allow,
	// deny) and reason (allowed_by, public, denied_by, no_allow_rule,
	// eval_error).
	Decisions *prometheus.CounterVec
}

func newPolicyMetrics(reg *prometheus.Registry) PolicyMetrics {
	m := PolicyMetrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_policy_decisions_total",
			Help: "Authorization decisions, by route, decision (allow, deny) and reason (allowed_by, public, denied_by, no_allow_rule, eval_error).",
		}, []string{"route", "decision", "reason"}),
	}
	reg.MustRegister(m.Decisions)
	return m
}
