package metrics

import "github.com/prometheus/client_golang/prometheus"

// ScriptMetrics are the collectors of the edge script.
type ScriptMetrics struct{}

func newScriptMetrics(reg *prometheus.Registry) ScriptMetrics {
	return ScriptMetrics{}
}
