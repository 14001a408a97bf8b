// Package metrics holds the gateway's Prometheus collectors.
//
// Every gateway instance owns one *Metrics with its own registry (no
// process-wide default registry), so several gateways can run in one test
// process and each /metrics shows only its own numbers. The names and labels
// here are a public interface: docs/metrics.md lists them and a test keeps
// the two in step.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of collectors of one gateway.
type Metrics struct {
	Registry *prometheus.Registry

	// Requests counts finished requests by route and status code.
	Requests *prometheus.CounterVec
	// Duration observes request latency in seconds by route.
	Duration *prometheus.HistogramVec
	// Rejected counts requests refused by hygiene rules, by reason code.
	Rejected *prometheus.CounterVec
	// OriginHealth is 1 for a healthy member and 0 for an unhealthy or ejected one.
	OriginHealth *prometheus.GaugeVec
	// OriginRequests counts origin attempts by pool, member and outcome.
	OriginRequests *prometheus.CounterVec
	// PoolInFlight is the number of requests in flight per pool: the load
	// signal for origin autoscalers.
	PoolInFlight *prometheus.GaugeVec
	// Reloads counts configuration loads by result (ok, error).
	Reloads *prometheus.CounterVec
	// ConfigInfo is 1 for the active configuration hash.
	ConfigInfo *prometheus.GaugeVec

	// Collectors of later stages, each defined and registered in a file of
	// its own (authn.go, session.go, policy.go, keys.go, audit.go).
	Authn   AuthnMetrics
	Session SessionMetrics
	Policy  PolicyMetrics
	Keys    KeysMetrics
	Audit   AuditMetrics
}

// New returns collectors registered in a fresh registry, together with the
// Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_requests_total",
			Help: "Requests served, by route and status code.",
		}, []string{"route", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgegate_request_duration_seconds",
			Help:    "Time from request read to response written, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_requests_rejected_total",
			Help: "Requests refused before routing by request hygiene rules, by reason.",
		}, []string{"reason"}),
		OriginHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgegate_origin_healthy",
			Help: "1 when an origin member is healthy, 0 when it is failing active checks or ejected.",
		}, []string{"pool", "member"}),
		OriginRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_origin_requests_total",
			Help: "Requests sent to origin members, by pool, member and outcome (ok, connect_error, timeout, error, status_5xx).",
		}, []string{"pool", "member", "outcome"}),
		PoolInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgegate_pool_in_flight_requests",
			Help: "Requests currently in flight to a pool: the load signal for origin autoscalers.",
		}, []string{"pool"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_config_reloads_total",
			Help: "Configuration loads, by result (ok, error).",
		}, []string{"result"}),
		ConfigInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgegate_config_info",
			Help: "1 for the active configuration, labelled by its content hash.",
		}, []string{"hash"}),
	}
	m.Registry.MustRegister(
		m.Requests, m.Duration, m.Rejected, m.OriginHealth, m.OriginRequests,
		m.PoolInFlight, m.Reloads, m.ConfigInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.Authn = newAuthnMetrics(m.Registry)
	m.Session = newSessionMetrics(m.Registry)
	m.Policy = newPolicyMetrics(m.Registry)
	m.Keys = newKeysMetrics(m.Registry)
	m.Audit = newAuditMetrics(m.Registry)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
