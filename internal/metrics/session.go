package metrics

import "github.com/prometheus/client_golang/prometheus"

// SessionMetrics are the collectors of browser login and sessions.
type SessionMetrics struct{}

func newSessionMetrics(reg *prometheus.Registry) SessionMetrics {
	return SessionMetrics{}
}
