package metrics

import "github.com/prometheus/client_golang/prometheus"

// AuditMetrics are the collectors of the audit trail.
type AuditMetrics struct{}

func newAuditMetrics(reg *prometheus.Registry) AuditMetrics {
	return AuditMetrics{}
}
