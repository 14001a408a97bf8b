package metrics

import "github.com/prometheus/client_golang/prometheus"

// SessionMetrics are the collectors of browser login and sessions.
type SessionMetrics struct {
	// Logins counts completed callbacks by result ("ok" or a failure reason).
	Logins *prometheus.CounterVec
	// Failures counts session and login failures by typed reason.
	Failures *prometheus.CounterVec
	// Refreshes counts token refreshes by result ("ok" or "error").
	Refreshes *prometheus.CounterVec
	// Logouts counts logouts by kind ("local" or "provider").
	Logouts *prometheus.CounterVec
}

func newSessionMetrics(reg *prometheus.Registry) SessionMetrics {
	m := SessionMetrics{
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_login_callbacks_total",
			Help: "Browser login callbacks, by result (ok or a failure reason).",
		}, []string{"result"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_session_failures_total",
			Help: "Login and session failures, by typed reason.",
		}, []string{"reason"}),
		Refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_session_refreshes_total",
			Help: "Session token refreshes at the provider, by result (ok or error).",
		}, []string{"result"}),
		Logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_logouts_total",
			Help: "Logouts, by kind (local, or provider for RP-initiated logout).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.Logins, m.Failures, m.Refreshes, m.Logouts)
	return m
}
