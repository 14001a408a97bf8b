package config

import "net/url"

// Tracing is the validated OpenTelemetry configuration; Endpoint "" means off.
type Tracing struct {
	Endpoint    string
	SampleRatio float64
	ServiceName string
}

func (v *validator) tracing(r RawTracing) Tracing {
	t := Tracing{SampleRatio: DefaultTraceSampleRatio, ServiceName: str(r.ServiceName, DefaultTraceServiceName)}
	if r.Endpoint != nil && *r.Endpoint != "" {
		u, err := url.Parse(*r.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf("tracing.endpoint", "want an http:// or https:// URL of an OTLP/HTTP traces endpoint, got %q", *r.Endpoint)
		}
		t.Endpoint = *r.Endpoint
	}
	if r.SampleRatio != nil {
		t.SampleRatio = *r.SampleRatio
		if t.SampleRatio < 0 || t.SampleRatio > 1 || t.SampleRatio != t.SampleRatio {
			v.errorf("tracing.sample_ratio", "must be between 0 and 1, got %v", *r.SampleRatio)
		}
	}
	if t.ServiceName == "" {
		v.errorf("tracing.service_name", "must not be empty")
	}
	return t
}
