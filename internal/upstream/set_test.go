package upstream

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
	"github.com/google/go-cmp/cmp"
)

func TestNewSetErrors(t *testing.T) {
	member := fakeMembers(1)
	pool := func(name, failover string) config.Pool {
		pc := poolCfg(t, name, member...)
		pc.Failover = failover
		return pc
	}
	badBalance := pool("a", "")
	badBalance.Balance = "random"
	noHashName := pool("a", "")
	noHashName.Balance, noHashName.Hash = config.BalanceHash, config.HashKey{Kind: config.HashHeader}
	badProto := pool("a", "")
	badProto.Protocol = "spdy"
	noMembers := pool("a", "")
	noMembers.Members = nil
	badURL := pool("a", "")
	badURL.Members[0].URL = mustURL(t, "ftp://127.0.0.1:21")

	tests := []struct {
		name    string
		pools   []config.Pool
		errPart string
		failRef bool
	}{
		{"unknown failover", []config.Pool{pool("a", "nope")}, `failover "nope": no such pool`, true},
		{"self failover", []config.Pool{pool("a", "a")}, "itself", true},
		{"cycle", []config.Pool{pool("a", "b"), pool("b", "c"), pool("c", "a")}, "cycle", true},
		{"duplicate", []config.Pool{pool("a", ""), pool("a", "")}, "defined twice", false},
		{"unknown balance", []config.Pool{badBalance}, "unknown balance", false},
		{"hash without name", []config.Pool{noHashName}, "needs a name", false},
		{"unknown protocol", []config.Pool{badProto}, "unknown protocol", false},
		{"no members", []config.Pool{noMembers}, "no members", false},
		{"bad member url", []config.Pool{badURL}, "members[0]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSet(tt.pools, Options{Timeouts: testTimeouts})
			if err == nil {
				s.Close(nil)
				t.Fatal("NewSet succeeded")
			}
			if !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("err = %q, want it to mention %q", err, tt.errPart)
			}
			if errors.Is(err, errBadFailover) != tt.failRef {
				t.Errorf("errors.Is(err, errBadFailover) = %v", !tt.failRef)
			}
		})
	}
}

func TestReuseAcrossReload(t *testing.T) {
	f := newFlippable(t)
	dir := t.TempDir()
	pki := newTestPKI(t)
	ca := filepath.Join(dir, "ca.pem")
	caBytes, err := os.ReadFile(pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, caBytes, 0o600); err != nil {
		t.Fatal(err)
	}

	build := func() []config.Pool {
		app := withChecks(poolCfg(t, "app", f.url))
		app.Failover = "backup"
		secure := poolCfg(t, "secure", "https://127.0.0.1:10443")
		secure.TLS = &config.OriginTLS{CAFile: ca}
		return []config.Pool{app, poolCfg(t, "backup", fakeMembers(1)...), secure, poolCfg(t, "other", fakeMembers(2)...)}
	}
	mt := metrics.New()
	opts := Options{Timeouts: testTimeouts, Metrics: mt, Logger: testLogger(t)}
	s1, err := NewSet(build(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s1.Start()
	eventually(t, "first checks", func() bool { return f.checks.Load() > 0 })
	// State that must survive the reload.
	f.down.Store(true)
	eventually(t, "app member down", func() bool { return !s1.Pool("app").Members()[0].Healthy() })

	t.Run("identical config reuses every pool", func(t *testing.T) {
		opts := opts
		opts.Previous = s1
		s2, err := NewSet(build(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s1.Pools() {
			if s2.Pool(p.Name()) != p {
				t.Errorf("pool %s rebuilt", p.Name())
			}
		}
		// Discarding s2 (as when a later stage of the reload fails) must
		// not stop what s1 still uses.
		s2.Close(s1)
		n := f.checks.Load()
		eventually(t, "checks to continue", func() bool { return f.checks.Load() > n+2 })
		if s1.Pool("app").Members()[0].Healthy() {
			t.Error("health state lost")
		}
		// The normal path: s2 goes live, s1 is closed keeping s2's pools.
		s2.Start()
		s1.Close(s2)
		n = f.checks.Load()
		eventually(t, "checks to continue after the old set closed", func() bool { return f.checks.Load() > n+2 })
		if s2.Pool("app").Members()[0].Healthy() {
			t.Error("health state lost")
		}
	})

	t.Run("changes rebuild exactly the changed pools", func(t *testing.T) {
		pools := build()
		pools[1].Members[0].Weight = 2 // backup changes, so app (its failover user) must follow
		pools[3].Retries = 3           // other changes
		if err := os.WriteFile(ca, append(caBytes, '\n'), 0o600); err != nil {
			t.Fatal(err) // same path, new content: secure changes
		}
		opts := opts
		opts.Previous = s1
		s2, err := NewSet(pools, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s1.Pools() {
			if s2.Pool(p.Name()) == p {
				t.Errorf("pool %s reused though its config changed", p.Name())
			}
		}
		if s2.Pool("app").Failover() != s2.Pool("backup") {
			t.Error("rebuilt app pool points at the old backup pool")
		}
		s2.Start()
		s1.Close(s2)
		n := f.checks.Load()
		eventually(t, "new set's checks", func() bool { return f.checks.Load() > n+2 })
		s2.Close(nil)
	})

	t.Run("different timeouts or metrics rebuild", func(t *testing.T) {
		pools := []config.Pool{poolCfg(t, "other", fakeMembers(2)...)}
		s0 := newSet(t, pools, Options{Metrics: mt})
		same := newSet(t, pools, Options{Metrics: mt, Previous: s0})
		if same.Pool("other") != s0.Pool("other") {
			t.Fatal("identical pool not reused")
		}
		s3 := newSet(t, pools, Options{Timeouts: config.Timeouts{OriginConnect: time.Second, OriginResponse: time.Second}, Metrics: mt, Previous: s0})
		if s3.Pool("other") == s0.Pool("other") {
			t.Error("pool reused across a change of the global origin timeouts")
		}
		if s3.Pool("other").ResponseTimeout() != time.Second {
			t.Errorf("ResponseTimeout = %v", s3.Pool("other").ResponseTimeout())
		}
		s4 := newSet(t, pools, Options{Metrics: metrics.New(), Previous: s0})
		if s4.Pool("other") == s0.Pool("other") {
			t.Error("pool reused across a change of the metrics instance")
		}
	})
}

func TestCloseKeepsMetricsOfSharedMembers(t *testing.T) {
	mt := metrics.New()
	urls := fakeMembers(3)
	opts := Options{Timeouts: testTimeouts, Metrics: mt}
	s1, err := NewSet([]config.Pool{poolCfg(t, "p", urls...), poolCfg(t, "gone", urls[0])}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s1.Start()
	for _, m := range s1.Pool("p").Members() {
		m.Begin()(OutcomeOK)
	}
	// The next config drops member 3 and pool "gone" and changes p.
	next := poolCfg(t, "p", urls[:2]...)
	next.Retries = 2
	opts.Previous = s1
	s2, err := NewSet([]config.Pool{next}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s2.Start()
	s1.Close(s2)
	defer s2.Close(nil)

	label := func(u string) map[string]string { return map[string]string{"pool": "p", "member": u} }
	for _, u := range urls[:2] {
		if v, ok := metricValue(t, mt, "edgegate_origin_healthy", label(u)); !ok || v != 1 {
			t.Errorf("health of kept member %s = %v, %v", u, v, ok)
		}
	}
	if _, ok := metricValue(t, mt, "edgegate_origin_healthy", label(urls[2])); ok {
		t.Error("health series of a removed member remains")
	}
	if _, ok := metricValue(t, mt, "edgegate_origin_requests_total", label(urls[2])); ok {
		t.Error("request series of a removed member remain")
	}
	if _, ok := metricValue(t, mt, "edgegate_pool_in_flight_requests", map[string]string{"pool": "gone"}); ok {
		t.Error("in-flight series of a removed pool remains")
	}
	if _, ok := metricValue(t, mt, "edgegate_pool_in_flight_requests", map[string]string{"pool": "p"}); !ok {
		t.Error("in-flight series of a kept pool removed")
	}
}

func TestInFlightMetric(t *testing.T) {
	mt := metrics.New()
	p := newSet(t, []config.Pool{poolCfg(t, "p", fakeMembers(2)...)}, Options{Metrics: mt}).Pool("p")
	a, b := p.Members()[0].Begin(), p.Members()[1].Begin()
	if v, _ := metricValue(t, mt, "edgegate_pool_in_flight_requests", map[string]string{"pool": "p"}); v != 2 || p.InFlight() != 2 {
		t.Errorf("in flight gauge %v, pool %d; want 2", v, p.InFlight())
	}
	a(OutcomeOK)
	b(OutcomeTimeout)
	if v, _ := metricValue(t, mt, "edgegate_pool_in_flight_requests", map[string]string{"pool": "p"}); v != 0 {
		t.Errorf("in flight gauge %v after both ended", v)
	}
	if v, _ := metricValue(t, mt, "edgegate_origin_requests_total", map[string]string{"pool": "p", "member": "http://127.0.0.1:10002", "outcome": "timeout"}); v != 1 {
		t.Errorf("timeout counter = %v", v)
	}
}

func TestSnapshotJSON(t *testing.T) {
	pa := withWeights(poolCfg(t, "a", fakeMembers(2)...), 2, 1)
	pa.Failover = "b"
	pa.Passive = config.PassiveHealth{MaxFailures: 1, Window: time.Minute, EjectFor: time.Hour}
	s := newSet(t, []config.Pool{pa, poolCfg(t, "b", "http://127.0.0.1:10050")}, Options{})
	end := s.Pool("a").Members()[1].Begin()
	end(OutcomeConnectError) // ejects member 2 for an hour
	s.Pool("a").Members()[0].Begin()

	got := s.Snapshot()
	until := got[0].Members[1].EjectedUntil
	if time.Until(until) < 59*time.Minute {
		t.Errorf("ejected until %v, want about an hour from now", until)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"name": "a", "balance": "round_robin", "failover": "b", "in_flight": 1.0, "available": 1.0, "members": []any{
			map[string]any{"url": "http://127.0.0.1:10001", "weight": 2.0, "healthy": true, "ejected": false, "in_flight": 1.0, "available": true},
			map[string]any{"url": "http://127.0.0.1:10002", "weight": 1.0, "healthy": true, "ejected": true, "ejected_until": until.Format(time.RFC3339Nano), "in_flight": 0.0, "available": false},
		}},
		{"name": "b", "balance": "round_robin", "in_flight": 0.0, "available": 1.0, "members": []any{
			map[string]any{"url": "http://127.0.0.1:10050", "weight": 1.0, "healthy": true, "ejected": false, "in_flight": 0.0, "available": true},
		}},
	}
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("snapshot JSON (-want +got):\n%s", diff)
	}
}
