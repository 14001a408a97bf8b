package upstream

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
	dto "github.com/prometheus/client_model/go"
)

var testTimeouts = config.Timeouts{OriginConnect: 2 * time.Second, OriginResponse: 5 * time.Second}

// testLogger sends pool logs to the test log, so failures show transitions.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// origin starts a loopback origin and stops it when the test ends.
func origin(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// poolCfg is a round-robin pool with the config defaults and no checks.
func poolCfg(t testing.TB, name string, urls ...string) config.Pool {
	t.Helper()
	pc := config.Pool{
		Name:                name,
		Balance:             config.BalanceRoundRobin,
		Protocol:            config.ProtocolHTTP1,
		Retries:             1,
		MaxIdleConnsPerHost: 256,
	}
	for _, u := range urls {
		pc.Members = append(pc.Members, config.Member{URL: mustURL(t, u), Weight: 1})
	}
	return pc
}

func newSet(t testing.TB, pools []config.Pool, opts Options) *Set {
	t.Helper()
	if opts.Timeouts == (config.Timeouts{}) {
		opts.Timeouts = testTimeouts
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := NewSet(pools, opts)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	t.Cleanup(func() { s.Close(nil) })
	return s
}

// get sends one GET through m the way the proxy does and reports the outcome.
func get(t testing.TB, m *Member, path string) (*http.Response, string) {
	t.Helper()
	done := m.Begin()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, m.URL().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := m.Transport().RoundTrip(req)
	if err != nil {
		done(OutcomeConnectError)
		t.Fatalf("round trip to %s: %v", m.URL(), err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		done(OutcomeStatus5xx)
	} else {
		done(OutcomeOK)
	}
	return resp, string(b)
}

// eventually polls cond until it holds or a generous deadline passes; it
// bounds waits for background work, it does not measure speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// metricValue reads one series from the registry; ok is false if absent.
func metricValue(t testing.TB, m *metrics.Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range s.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return value(s), true
		}
	}
	return 0, false
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	}
	return 0
}

func names(ms []*Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.URL().Host
	}
	return out
}
