package gateway

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpCollector is an OTLP/HTTP traces receiver: it decodes what the
// gateway's exporter really sends.
type otlpCollector struct {
	*httptest.Server
	mu    sync.Mutex
	spans map[string][]string // trace ID → span names
	attrs []string            // every attribute key=value seen
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{spans: map[string][]string{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					id := hex.EncodeToString(sp.TraceId)
					c.spans[id] = append(c.spans[id], sp.Name)
					for _, a := range sp.Attributes {
						c.attrs = append(c.attrs, a.Key+"="+a.Value.String())
					}
				}
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *otlpCollector) names(traceID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans[traceID]...)
}

func TestTracing(t *testing.T) {
	col := newOTLPCollector(t)
	o := newEchoOrigin(t, "a")
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			extra := ""
			if trusted {
				extra = "trusted_proxies: [127.0.0.1]\n"
			}
			src := basicConfig(o.URL, "") + extra + fmt.Sprintf("tracing: {endpoint: %q, sample_ratio: 1}\n", col.URL+"/v1/traces")
			tg := startGateway(t, src)
			const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
			req := mustReq(t, "GET", tg.url("/traced?token=secret"))
			req.Header.Set("Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
			resp, e := getEcho(t, http.DefaultClient, req)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			tp := e.Header.Get("Traceparent")
			parts := strings.Split(tp, "-")
			if len(parts) != 4 {
				t.Fatalf("origin got traceparent %q", tp)
			}
			traceID := parts[1]
			if trusted != (traceID == clientTrace) {
				t.Errorf("trusted=%v: origin trace %s, client sent %s", trusted, traceID, clientTrace)
			}
			if parts[2] == "00f067aa0ba902b7" {
				t.Error("the origin got the client's parent span, not the gateway's")
			}
			tg.stop() // flushes the exporter
			deadline := time.Now().Add(5 * time.Second)
			var names []string
			for time.Now().Before(deadline) {
				if names = col.names(traceID); len(names) >= 5 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			joined := strings.Join(names, ",")
			for _, want := range []string{"edgegate.request", "edgegate.authn", "edgegate.policy", "edgegate.origin"} {
				if !strings.Contains(joined, want) {
					t.Errorf("spans of trace %s: %v, missing %s", traceID, names, want)
				}
			}
			// The access log carries the trace ID.
			if !strings.Contains(tg.access.String(), `"trace_id":"`+traceID+`"`) {
				t.Errorf("access log lacks trace_id %s: %s", traceID, tg.access.String())
			}
		})
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, a := range col.attrs {
		if strings.Contains(a, "secret") {
			t.Errorf("a span attribute carries request data: %s", a)
		}
	}
}

func TestAccessLogSampling(t *testing.T) {
	o := newEchoOrigin(t, "a")
	src := strings.Replace(basicConfig(o.URL, ""), "timeouts:", "log: {access_sample: 0}\ntimeouts:", 1)
	tg := startGateway(t, src)
	for i := 0; i < 5; i++ {
		resp, _ := getEcho(t, http.DefaultClient, mustReq(t, "GET", tg.url("/ok")))
		if resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
	}
	resp, err := http.Get(tg.url("/bad%2fpath"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, func() bool { return strings.Contains(tg.access.String(), "hygiene.encoded_slash") })
	if n := strings.Count(tg.access.String(), "\n"); n != 1 {
		t.Errorf("with access_sample 0, %d lines were logged; want only the refusal:\n%s", n, tg.access.String())
	}
}
