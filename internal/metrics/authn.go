package metrics

import "github.com/prometheus/client_golang/prometheus"

// AuthnMetrics are the collectors of bearer token verification.
type AuthnMetrics struct{}

func newAuthnMetrics(reg *prometheus.Registry) AuthnMetrics {
	return AuthnMetrics{}
}
