package metrics

import "github.com/prometheus/client_golang/prometheus"

// CacheMetrics are the collectors of the edge cache.
type CacheMetrics struct {
	// Requests counts requests on cached routes by cache status (hit, miss,
	// stale, revalidated, bypass, uncacheable).
	Requests *prometheus.CounterVec
	// Collapsed counts requests that waited for another request's origin
	// fetch of the same key.
	Collapsed prometheus.Counter
	// Evictions counts entries evicted to make room, by tier.
	Evictions *prometheus.CounterVec
	// Bytes is the size of each tier.
	Bytes *prometheus.GaugeVec
	// Purges counts purge requests by result (ok, denied, invalid, error).
	Purges *prometheus.CounterVec
	// DiskErrors counts failed disk-tier reads and writes.
	DiskErrors prometheus.Counter
}

func newCacheMetrics(reg *prometheus.Registry) CacheMetrics {
	m := CacheMetrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_cache_requests_total",
			Help: "Requests on cached routes, by cache status (hit, miss, stale, revalidated, bypass, uncacheable).",
		}, []string{"status"}),
		Collapsed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgegate_cache_collapsed_total",
			Help: "Requests that waited for another request's origin fetch of the same key.",
		}),
		Evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_cache_evictions_total",
			Help: "Cache entries evicted to make room, by tier (memory, disk).",
		}, []string{"tier"}),
		Bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgegate_cache_bytes",
			Help: "Bytes held by each cache tier (memory, disk).",
		}, []string{"tier"}),
		Purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_cache_purges_total",
			Help: "Purge API requests, by result (ok, denied, invalid, error).",
		}, []string{"result"}),
		DiskErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgegate_cache_disk_errors_total",
			Help: "Failed reads and writes of the cache disk tier (the memory tier keeps serving).",
		}),
	}
	reg.MustRegister(m.Requests, m.Collapsed, m.Evictions, m.Bytes, m.Purges, m.DiskErrors)
	return m
}
