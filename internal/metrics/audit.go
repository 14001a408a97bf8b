package metrics

import "github.com/prometheus/client_golang/prometheus"

// AuditMetrics are the collectors of the audit trail. Sink labels are the
// sink names of the configuration, so their number is bounded by it.
type AuditMetrics struct {
	// Records counts records durably accepted by each sink (written, or
	// delivered to the collector).
	Records *prometheus.CounterVec
	// SpoolDepth is the number of records waiting in the on-disk spools.
	SpoolDepth prometheus.Gauge
	// Dropped counts records lost because a spool was full under the
	// fail_open policy.
	Dropped prometheus.Counter
	// Refused counts records refused (and their requests answered 503)
	// because a spool was full under the fail_closed policy.
	Refused prometheus.Counter
	// SinkUp is 1 while a sink accepts records and 0 while it fails.
	SinkUp *prometheus.GaugeVec
}

func newAuditMetrics(reg *prometheus.Registry) AuditMetrics {
	m := AuditMetrics{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_audit_records_total",
			Help: "Audit records durably accepted, by sink.",
		}, []string{"sink"}),
		SpoolDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgegate_audit_spool_depth",
			Help: "Audit records waiting in the on-disk spools for a sink to take them.",
		}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgegate_audit_dropped_total",
			Help: "Audit records dropped because a spool was full (policy fail_open).",
		}),
		Refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgegate_audit_refused_total",
			Help: "Audit records refused because a spool was full (policy fail_closed); their requests got 503.",
		}),
		SinkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgegate_audit_sink_up",
			Help: "1 while an audit sink accepts records, 0 while it fails.",
		}, []string{"sink"}),
	}
	reg.MustRegister(m.Records, m.SpoolDepth, m.Dropped, m.Refused, m.SinkUp)
	return m
}
