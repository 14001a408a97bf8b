package metrics

import "github.com/prometheus/client_golang/prometheus"

// CacheMetrics are the collectors of the edge cache.
type CacheMetrics struct{}

func newCacheMetrics(reg *prometheus.Registry) CacheMetrics {
	return CacheMetrics{}
}
