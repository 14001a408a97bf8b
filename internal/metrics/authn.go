package metrics

import "github.com/prometheus/client_golang/prometheus"

// AuthnMetrics are the collectors of bearer token verification.
type AuthnMetrics struct {
	// Failures counts refused credentials by route and typed reason
	// (expired, bad_signature, ...; see docs/identity.md).
	Failures *prometheus.CounterVec
	// Successes counts authenticated requests by route and method (bearer, session).
	Successes *prometheus.CounterVec
	// JWKSAge is the time since an issuer's keys were last fetched.
	JWKSAge *prometheus.GaugeVec
	// JWKSFetches counts key set fetches by issuer and result (ok, error).
	JWKSFetches *prometheus.CounterVec
}

func newAuthnMetrics(reg *prometheus.Registry) AuthnMetrics {
	m := AuthnMetrics{
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_authn_failures_total",
			Help: "Requests refused by authentication, by route and reason.",
		}, []string{"route", "reason"}),
		Successes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_authn_successes_total",
			Help: "Authenticated requests, by route and method (bearer, session).",
		}, []string{"route", "method"}),
		JWKSAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgegate_jwks_age_seconds",
			Help: "Seconds since the issuer's key set was last fetched successfully.",
		}, []string{"issuer"}),
		JWKSFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgegate_jwks_fetches_total",
			Help: "Key set fetches of an issuer, by result (ok, error).",
		}, []string{"issuer", "result"}),
	}
	reg.MustRegister(m.Failures, m.Successes, m.JWKSAge, m.JWKSFetches)
	return m
}
