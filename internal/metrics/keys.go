package metrics

import "github.com/prometheus/client_golang/prometheus"

// KeysMetrics are the collectors of the key ring and identity assertions.
type KeysMetrics struct {
	// Assertions counts identity assertions attached to forwarded
	// requests, by result: signed (a new signature), reused (from the
	// reuse cache) or error (no assertion could be made; the request was
	// refused).
	Assertions *prometheus.CounterVec
	// KeyEvents counts key ring changes by purpose (signing, session) and
	// action (publish, activate, remove).
	KeyEvents *prometheus.CounterVec
	// KeystoreErrors counts failed keystore reads and writes.
	KeystoreErrors prometheus.Counter
}

func newKeysMetrics(reg *prometheus.Registry) KeysMetrics {
	m := KeysMetrics{
		Assertions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_assertions_total",
			Help: "Identity assertions attached to forwarded requests, by result (signed, reused, error).",
		}, []string{"result"}),
		KeyEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_key_events_total",
			Help: "Key ring changes, by purpose (signing, session) and action (publish, activate, remove).",
		}, []string{"purpose", "action"}),
		KeystoreErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgegate_keystore_errors_total",
			Help: "Failed reads and writes of the keystore file.",
		}),
	}
	reg.MustRegister(m.Assertions, m.KeyEvents, m.KeystoreErrors)
	return m
}
