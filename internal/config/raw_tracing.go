package config

// RawTracing configures OpenTelemetry traces: a span per request with a
// child span per stage, exported over OTLP/HTTP. W3C trace context
// (traceparent, tracestate) is accepted only from trusted_proxies; from
// anyone else the gateway starts a new trace. Either way the origin gets
// the gateway's own traceparent.
type RawTracing struct {
	// OTLP/HTTP traces endpoint, e.g. "http://127.0.0.1:4318/v1/traces".
	// Absent or empty turns tracing off. Default: none (tracing off)
	Endpoint *string `yaml:"endpoint"`
	// Fraction of new traces sampled, from 0 to 1. A trusted parent's
	// sampling decision is followed. Default: 0.01
	SampleRatio *float64 `yaml:"sample_ratio"`
	// service.name of the spans. Default: "edgegate"
	ServiceName *string `yaml:"service_name"`
}
