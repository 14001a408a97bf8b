package metrics

import "github.com/prometheus/client_golang/prometheus"

// PolicyMetrics are the collectors of policy decisions.
type PolicyMetrics struct{}

func newPolicyMetrics(reg *prometheus.Registry) PolicyMetrics {
	return PolicyMetrics{}
}
