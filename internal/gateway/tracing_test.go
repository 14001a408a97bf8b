package gateway

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
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

// writeBundle writes an edge-script bundle (bundle.json and main.js) into
// a new directory and returns it.
func writeBundle(t *testing.T, version, mainJS string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{
		"bundle.json": fmt.Sprintf(`{"edgeworker-version": %q}`, version),
		"main.js":     mainJS,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// allHandlersJS exports every request/response handler but the
// responseProvider (which would replace the origin).
const allHandlersJS = `
export function onClientRequest(request) { request.setHeader('X-Script', 'client'); }
export function onOriginRequest(request) { request.setHeader('X-Script-Origin', 'origin'); }
export function onOriginResponse(request, response) { response.setHeader('X-Origin-Response', '1'); }
export function onClientResponse(request, response) { response.setHeader('X-Client-Response', '1'); }
`

const providerJS = `import { createResponse } from 'create-response';
export function responseProvider(request) {
  return createResponse(200, { 'Content-Type': 'text/plain' }, 'provided');
}`

// accessLine returns the access log line of the request with ID id.
func accessLine(t *testing.T, tg *testGateway, id string) map[string]any {
	t.Helper()
	var line map[string]any
	waitFor(t, func() bool {
		for _, l := range strings.Split(tg.access.String(), "\n") {
			if strings.Contains(l, `"request_id":"`+id+`"`) {
				return json.Unmarshal([]byte(l), &line) == nil
			}
		}
		return false
	})
	return line
}

// TestTracing runs requests through every stage (hygiene, routing,
// authentication, policy, each edge-script handler, the cache, the
// origin) and checks the spans the OTLP collector receives, the trace
// context the origin gets, and that no span attribute carries request
// data.
func TestTracing(t *testing.T) {
	col := newOTLPCollector(t)
	o := newEchoOrigin(t, "a")
	full := writeBundle(t, "1.0", allHandlersJS)
	rp := writeBundle(t, "2.0", providerJS)
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			extra := ""
			if trusted {
				extra = "trusted_proxies: [127.0.0.1]\n"
			}
			src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
timeouts: {shutdown: 5s}
pools: [{name: app, members: [%q]}]
cache: {}
scripts:
  bundles: [{name: full, path: %q}, {name: rp, path: %q}]
routes:
  - {name: rp, match: {path_prefix: /rp}, pool: app, script: {bundle: rp}}
  - {name: all, match: {path_prefix: /}, pool: app, cache: {}, script: {bundle: full}}
tracing: {endpoint: %q, sample_ratio: 1}
%s`, o.URL, full, rp, col.URL+"/v1/traces", extra)
			tg := startGateway(t, src)
			const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
			req := mustReq(t, "GET", tg.url("/traced?token=secret"))
			req.Header.Set("Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
			resp, e := getEcho(t, http.DefaultClient, req)
			if resp.StatusCode != 200 || resp.Header.Get("X-Client-Response") != "1" || e.Header.Get("X-Script-Origin") != "origin" {
				t.Fatalf("status %d, client response header %q, origin saw %v: the script did not run", resp.StatusCode, resp.Header.Get("X-Client-Response"), e.Header)
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
			// The responseProvider route answers without the origin; its
			// trace ID comes from the access log.
			rpResp, rpBody := scriptGet(t, tg.url("/rp/x"), nil)
			if rpResp.StatusCode != 200 || rpBody != "provided" {
				t.Fatalf("responseProvider route: %d %q", rpResp.StatusCode, rpBody)
			}
			rpLine := accessLine(t, tg, rpResp.Header.Get(RequestIDHeader))
			rpTrace, _ := rpLine["trace_id"].(string)
			if len(rpTrace) != 32 {
				t.Fatalf("access log line of the responseProvider request has trace_id %q", rpTrace)
			}
			if rpLine["script_status"] != "responded" {
				t.Errorf("responseProvider request: script_status %v, want responded", rpLine["script_status"])
			}
			tg.stop() // flushes the exporter

			want := map[string][]string{
				traceID: {"edgegate.request", "edgegate.hygiene", "edgegate.route", "edgegate.authn", "edgegate.policy",
					"edgegate.script.onClientRequest", "edgegate.origin", "edgegate.cache", "edgegate.script.onOriginRequest",
					"edgegate.script.onOriginResponse", "edgegate.script.onClientResponse"},
				rpTrace: {"edgegate.request", "edgegate.hygiene", "edgegate.route", "edgegate.authn", "edgegate.policy",
					"edgegate.script.responseProvider", "edgegate.origin"},
			}
			for id, names := range want {
				var got []string
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) {
					if got = col.names(id); len(got) >= len(names) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				for _, n := range names {
					if !slices.Contains(got, n) {
						t.Errorf("spans of trace %s: %v, missing %s", id, got, n)
					}
				}
				// One span per handler run: onClientRequest is not run twice.
				if c := strings.Count(strings.Join(got, ","), "edgegate.script.onClientRequest"); id == traceID && c != 1 {
					t.Errorf("%d onClientRequest spans, want 1: %v", c, got)
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
	for _, want := range []string{"edgegate.cache.status=", "edgegate.script.status=", "edgegate.route="} {
		if !slices.ContainsFunc(col.attrs, func(a string) bool { return strings.HasPrefix(a, want) }) {
			t.Errorf("no span has the attribute %s...", want)
		}
	}
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
