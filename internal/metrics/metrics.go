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
	"sync/atomic"

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
	// Stages observes the time spent in each pipeline stage, and
	// StageDuration holds its children in the gateway's stage order
	// (hygiene, route, authn, policy, origin), resolved once.
	Stages        *prometheus.HistogramVec
	StageDuration [5]prometheus.Observer `metrics:"derived"`
	// Rejected counts requests refused by hygiene rules, by reason code.
	Rejected *prometheus.CounterVec
	// OriginHealth is 1 for a healthy member and 0 for an unhealthy or ejected one.
	OriginHealth *prometheus.GaugeVec
	// OriginRequests counts origin attempts by pool, member and outcome.
	OriginRequests *prometheus.CounterVec
	// PoolInFlight is the number of requests in flight per pool: the load
	// signal for origin autoscalers.
	PoolInFlight *prometheus.GaugeVec
	// PoolQueue observes, for every origin attempt, how long it waited for
	// a connection slot of a member at pools[].max_conns_per_member (0
	// without a wait), and PoolQueued is the number waiting now: together
	// with PoolInFlight the per-pool load signals of issue #7.
	PoolQueue  *prometheus.HistogramVec
	PoolQueued *prometheus.GaugeVec
	// Reloads counts configuration loads by result (ok, error).
	Reloads *prometheus.CounterVec
	// ConfigInfo is 1 for the active configuration hash.
	ConfigInfo *prometheus.GaugeVec

	// AccessLogDropped and AccessLogWriteErrors read the access logger's
	// own counters.
	AccessLogDropped     prometheus.CounterFunc
	AccessLogWriteErrors prometheus.CounterFunc
	// accessLog reads the access logger's own counters (set by
	// SetAccessLogSource; zero until then).
	accessLog atomic.Pointer[AccessLogSource]

	// Collectors of later stages, each defined and registered in a file of
	// its own (authn.go, session.go, policy.go, keys.go, audit.go).
	Authn   AuthnMetrics
	Session SessionMetrics
	Policy  PolicyMetrics
	Keys    KeysMetrics
	Audit   AuditMetrics
	Cache   CacheMetrics
	Script  ScriptMetrics
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
		Stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgegate_stage_duration_seconds",
			Help:    "Time spent in each pipeline stage (hygiene, route, authn, policy, origin).",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"stage"}),
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
		PoolQueue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgegate_pool_queue_seconds",
			Help:    "Time an origin attempt waited for a member connection slot (max_conns_per_member), by pool; 0 when it did not wait.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"pool"}),
		PoolQueued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgegate_pool_queued",
			Help: "Requests currently waiting for a member connection slot (max_conns_per_member), by pool.",
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
		m.Requests, m.Duration, m.Stages, m.Rejected, m.OriginHealth, m.OriginRequests,
		m.PoolInFlight, m.PoolQueue, m.PoolQueued, m.Reloads, m.ConfigInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.AccessLogDropped = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgegate_access_log_dropped_total",
		Help: "Access log records dropped because the writer fell behind (its queue was full).",
	}, func() float64 { return m.accessLogCount(func(s *AccessLogSource) int64 { return s.Dropped() }) })
	m.AccessLogWriteErrors = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgegate_access_log_write_errors_total",
		Help: "Access log writes that failed (for example a full disk); those records are lost.",
	}, func() float64 { return m.accessLogCount(func(s *AccessLogSource) int64 { return s.WriteErrors() }) })
	m.Registry.MustRegister(m.AccessLogDropped, m.AccessLogWriteErrors)
	for i, name := range []string{"hygiene", "route", "authn", "policy", "origin"} {
		m.StageDuration[i] = m.Stages.WithLabelValues(name)
	}
	m.Authn = newAuthnMetrics(m.Registry)
	m.Session = newSessionMetrics(m.Registry)
	m.Policy = newPolicyMetrics(m.Registry)
	m.Keys = newKeysMetrics(m.Registry)
	m.Audit = newAuditMetrics(m.Registry)
	m.Cache = newCacheMetrics(m.Registry)
	m.Script = newScriptMetrics(m.Registry)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// AccessLogSource is where the access-log counters come from.
type AccessLogSource struct {
	Dropped     func() int64
	WriteErrors func() int64
}

// SetAccessLogSource connects the access-log counters to the logger.
func (m *Metrics) SetAccessLogSource(s AccessLogSource) { m.accessLog.Store(&s) }

func (m *Metrics) accessLogCount(get func(*AccessLogSource) int64) float64 {
	if s := m.accessLog.Load(); s != nil {
		return float64(get(s))
	}
	return 0
}
