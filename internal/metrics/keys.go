package metrics

import "github.com/prometheus/client_golang/prometheus"

// KeysMetrics are the collectors of the key ring and identity assertions.
type KeysMetrics struct{}

func newKeysMetrics(reg *prometheus.Registry) KeysMetrics {
	return KeysMetrics{}
}
