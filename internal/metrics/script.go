package metrics

import "github.com/prometheus/client_golang/prometheus"

// ScriptMetrics are the collectors of the edge script.
type ScriptMetrics struct {
	// Runs counts handler runs by bundle, handler and execution status
	// (success, runtimeError, cpuTimeoutError, ...).
	Runs *prometheus.CounterVec
	// CPU observes the engine time of each handler run.
	CPU *prometheus.HistogramVec
}

func newScriptMetrics(reg *prometheus.Registry) ScriptMetrics {
	m := ScriptMetrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_script_runs_total",
			Help: "Edge-script handler runs, by bundle, handler and execution status.",
		}, []string{"bundle", "handler", "status"}),
		CPU: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgegate_script_cpu_seconds",
			Help:    "Engine time of edge-script handler runs, by handler.",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1},
		}, []string{"handler"}),
	}
	reg.MustRegister(m.Runs, m.CPU)
	return m
}
