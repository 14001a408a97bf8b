package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
)

// queueHistogram reads edgegate_pool_queue_seconds of pool: samples and sum.
func queueHistogram(t *testing.T, m *metrics.Metrics, pool string) (uint64, float64) {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "edgegate_pool_queue_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			if s.GetLabel()[0].GetValue() == pool {
				return s.GetHistogram().GetSampleCount(), s.GetHistogram().GetSampleSum()
			}
		}
	}
	return 0, 0
}

// send is one proxy-style request through Send, its body read and its
// attempt ended.
func send(m *Member, ctx context.Context, timeout time.Duration) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL().String()+"/", nil)
	if err != nil {
		return "", err
	}
	a, resp, err := m.Send(ctx, req, timeout)
	if a == nil {
		return "", err
	}
	if err != nil {
		a.End(OutcomeError)
		return "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	a.End(OutcomeOK)
	return string(b), err
}

func TestMaxConnsPerMember(t *testing.T) {
	var cur, peak atomic.Int32
	release := make(chan struct{})
	o := origin(t, func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		w.Write([]byte("ok"))
	})
	mt := metrics.New()
	pc := poolCfg(t, "slow", o.URL)
	pc.MaxConnsPerMember = 1
	m := newSet(t, []config.Pool{pc}, Options{Metrics: mt}).Pool("slow").Members()[0]

	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			body, err := send(m, t.Context(), time.Minute)
			if err == nil && body != "ok" {
				err = errors.New("body " + body)
			}
			errs <- err
		})
	}
	eventually(t, "three requests queued", func() bool {
		v, _ := metricValue(t, mt, "edgegate_pool_queued", map[string]string{"pool": "slow"})
		return v == n-1 && m.InFlight() == 1
	})

	t.Run("a full member times out a queued request", func(t *testing.T) {
		_, err := send(m, t.Context(), 20*time.Millisecond)
		if !errors.Is(err, ErrQueueTimeout) || !errors.Is(err, ErrResponseTimeout) {
			t.Fatalf("error %v, want ErrQueueTimeout and ErrResponseTimeout", err)
		}
	})
	t.Run("a cancelled request leaves the queue", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := send(m, ctx, time.Minute)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})

	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("queued request failed: %v", err)
		}
	}
	if p := peak.Load(); p != 1 {
		t.Errorf("origin saw %d requests at once, want max_conns_per_member 1", p)
	}
	count, sum := queueHistogram(t, mt, "slow")
	if count != n+2 || sum <= 0 {
		t.Errorf("queue histogram: %d samples, sum %v; want %d samples with a positive sum", count, sum, n+2)
	}
	if v, _ := metricValue(t, mt, "edgegate_pool_queued", map[string]string{"pool": "slow"}); v != 0 {
		t.Errorf("edgegate_pool_queued = %v after the queue drained", v)
	}
	if m.InFlight() != 0 {
		t.Errorf("%d still in flight", m.InFlight())
	}
}

func TestSendWithoutLimit(t *testing.T) {
	o := origin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mt := metrics.New()
	m := newSet(t, []config.Pool{poolCfg(t, "p", o.URL)}, Options{Metrics: mt}).Pool("p").Members()[0]
	for range 3 {
		if body, err := send(m, t.Context(), time.Minute); err != nil || body != "ok" {
			t.Fatalf("%q, %v", body, err)
		}
	}
	// Every attempt is observed, with no wait.
	if count, sum := queueHistogram(t, mt, "p"); count != 3 || sum != 0 {
		t.Errorf("queue histogram: %d samples, sum %v; want 3 with sum 0", count, sum)
	}
}

// TestSendFallbackTimeout covers the net/http path of Send (an h2c pool):
// the timeout still ends the wait for headers with ErrResponseTimeout.
func TestSendFallbackTimeout(t *testing.T) {
	release := make(chan struct{})
	o := origin(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	t.Cleanup(func() { close(release) }) // before the origin's Close, which waits for the handler
	pc := poolCfg(t, "p", o.URL)
	pc.Protocol = config.ProtocolAuto
	p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
	if p.h1 != nil {
		t.Fatal("an auto pool got the HTTP/1.1-only transport")
	}
	_, err := send(p.Members()[0], t.Context(), 50*time.Millisecond)
	if !errors.Is(err, ErrResponseTimeout) {
		t.Fatalf("error %v, want ErrResponseTimeout", err)
	}
}
