package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

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
	// SigningKeyAge is how long the key that signs now has been signing:
	// it should stay below keys.rotation; if it grows past it, rotation is
	// stuck.
	SigningKeyAge prometheus.GaugeFunc
	// signingSince reports when the current signing key began to sign
	// (set by SetSigningKeySource; zero time until then).
	signingSince *atomic.Pointer[func() time.Time]
}

// SetSigningKeySource connects SigningKeyAge to the key ring.
func (m KeysMetrics) SetSigningKeySource(since func() time.Time) { m.signingSince.Store(&since) }

func newKeysMetrics(reg *prometheus.Registry) KeysMetrics {
	since := new(atomic.Pointer[func() time.Time])
	m := KeysMetrics{
		signingSince: since,
		SigningKeyAge: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgegate_signing_key_age_seconds",
			Help: "How long the current assertion signing key has been signing; above keys.rotation means rotation is stuck.",
		}, func() float64 {
			if f := since.Load(); f != nil {
				if t := (*f)(); !t.IsZero() {
					return time.Since(t).Seconds()
				}
			}
			return 0
		}),
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
	reg.MustRegister(m.Assertions, m.KeyEvents, m.KeystoreErrors, m.SigningKeyAge)
	return m
}
