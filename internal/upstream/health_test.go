package upstream

import (
	"errors"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
)

// flippable is an origin whose /healthz answers 200 or 503 on demand and
// records what the checks sent.
type flippable struct {
	srv    interface{ Close() }
	url    string
	down   atomic.Bool
	checks atomic.Int64
	host   atomic.Value // string: Host of the last check
	agent  atomic.Value // string: User-Agent of the last check
}

func newFlippable(t *testing.T) *flippable {
	f := &flippable{}
	s := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			f.checks.Add(1)
			f.host.Store(r.Host)
			f.agent.Store(r.UserAgent())
			if f.down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.Write([]byte("ok"))
	})
	f.srv, f.url = s, s.URL
	return f
}

func withChecks(pc config.Pool) config.Pool {
	pc.HealthCheck = &config.HealthCheck{
		Path:     "/healthz",
		Host:     "check.internal",
		Interval: 10 * time.Millisecond,
		// Longer than the interval (config forbids that, this package does
		// not care) so a slow -race run never fails a check by timeout.
		Timeout:            5 * time.Second,
		HealthyThreshold:   2,
		UnhealthyThreshold: 2,
	}
	return pc
}

func TestActiveHealthCheck(t *testing.T) {
	a, b := newFlippable(t), newFlippable(t)
	a.down.Store(true) // down before the set even starts
	set := newSet(t, []config.Pool{withChecks(poolCfg(t, "p", a.url, b.url))}, Options{})
	p := set.Pool("p")
	ma, mb := p.Members()[0], p.Members()[1]

	// Members start healthy so a fresh config serves at once.
	if !ma.Healthy() || !mb.Healthy() {
		t.Fatal("members not healthy before the first check")
	}
	if a.checks.Load() != 0 {
		t.Fatal("checks ran before Start")
	}
	set.Start()
	eventually(t, "a marked unhealthy", func() bool { return !ma.Healthy() })
	if h, _ := a.host.Load().(string); h != "check.internal" {
		t.Errorf("check Host = %q, want the override", h)
	}
	if ua, _ := a.agent.Load().(string); ua != checkUserAgent {
		t.Errorf("check User-Agent = %q", ua)
	}
	for range 10 {
		if m, err := p.Pick(HashInput{}, nil); err != nil || m != mb {
			t.Fatalf("Pick = %v, %v; want only the healthy member", m, err)
		}
	}
	if st := p.Snapshot(); st.Available != 1 || st.Members[0].Healthy || !st.Members[1].Healthy {
		t.Errorf("snapshot = %+v", st)
	}

	a.down.Store(false)
	eventually(t, "a healthy again", ma.Healthy)
	got := pickN(t, p, 10, HashInput{})
	if got[ma.URL().Host] != 5 {
		t.Errorf("after recovery picks = %v, want 5 each", got)
	}
}

func TestActiveHealthThresholdsAndExpectStatus(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusNoContent)
	s := origin(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	pc := poolCfg(t, "p", s.URL)
	pc.HealthCheck = &config.HealthCheck{Path: "/", Interval: time.Hour, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3}
	p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
	m := p.Members()[0]
	step := func(t *testing.T) {
		t.Helper()
		ok, reason := m.checkOnce(t.Context())
		m.recordCheck(ok, reason)
	}
	status.Store(http.StatusInternalServerError)
	step(t)
	step(t)
	if !m.Healthy() {
		t.Fatal("down after 2 failures, threshold is 3")
	}
	step(t)
	if m.Healthy() {
		t.Fatal("still up after 3 failures")
	}
	status.Store(http.StatusNoContent) // any 2xx
	step(t)
	if m.Healthy() {
		t.Fatal("up after 1 success, threshold is 2")
	}
	step(t)
	if !m.Healthy() {
		t.Fatal("still down after 2 successes")
	}

	p.health = &config.HealthCheck{Path: "/", Interval: time.Hour, Timeout: time.Second, ExpectStatus: http.StatusTeapot}
	if ok, reason := m.checkOnce(t.Context()); ok || reason == "" {
		t.Errorf("204 with expect_status 418: ok=%v reason=%q", ok, reason)
	}
	status.Store(http.StatusTeapot)
	if ok, _ := m.checkOnce(t.Context()); !ok {
		t.Error("418 with expect_status 418 not ok")
	}
}

func passivePool(t *testing.T, urls ...string) config.Pool {
	pc := poolCfg(t, "p", urls...)
	pc.Passive = config.PassiveHealth{MaxFailures: 3, Window: time.Minute, EjectFor: 300 * time.Millisecond}
	return pc
}

func TestPassiveEjectionAndRecovery(t *testing.T) {
	var fail atomic.Bool
	bad := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	good := origin(t, func(w http.ResponseWriter, r *http.Request) {})
	mt := metrics.New()
	p := newSet(t, []config.Pool{passivePool(t, bad.URL, good.URL)}, Options{Metrics: mt}).Pool("p")
	mb, mg := p.Members()[0], p.Members()[1]
	healthLabels := map[string]string{"pool": "p", "member": mb.label}

	fail.Store(true)
	get(t, mb, "/")
	get(t, mb, "/")
	if !mb.Healthy() {
		t.Fatal("ejected after 2 failures, max is 3")
	}
	// A request begun before the ejection ends after it: it must not count.
	stale := mb.Begin()
	get(t, mb, "/")
	if mb.Healthy() {
		t.Fatal("not ejected after 3 failures")
	}
	until := mb.ejectedUntil.Load()
	stale(OutcomeStatus5xx)
	if mb.ejectedUntil.Load() != until {
		t.Fatal("an outcome of a request begun before the ejection extended it")
	}
	if v, _ := metricValue(t, mt, "edgegate_origin_healthy", healthLabels); v != 0 {
		t.Errorf("health gauge of ejected member = %v, want 0", v)
	}
	if v, _ := metricValue(t, mt, "edgegate_origin_requests_total", map[string]string{"pool": "p", "member": mb.label, "outcome": "status_5xx"}); v != 4 {
		t.Errorf("status_5xx counter = %v, want 4", v)
	}
	for range 5 {
		if m, _ := p.Pick(HashInput{}, nil); m != mg {
			t.Fatal("ejected member picked")
		}
	}
	if st := p.Snapshot(); !st.Members[0].Ejected || st.Members[0].EjectedUntil.IsZero() || st.Available != 1 {
		t.Errorf("snapshot = %+v", st)
	}

	t.Run("half-open failure re-ejects", func(t *testing.T) {
		eventually(t, "ejection to expire", func() bool { return p.Snapshot().Members[0].HalfOpen })
		probe := pickMember(t, p, mb)
		// Only one trial at a time.
		for range 4 {
			if m, _ := p.Pick(HashInput{}, nil); m == mb {
				t.Fatal("second trial handed out while the first is outstanding")
			}
		}
		get(t, probe, "/")
		if mb.Healthy() {
			t.Fatal("failed trial did not re-eject")
		}
	})

	t.Run("half-open success restores", func(t *testing.T) {
		fail.Store(false)
		eventually(t, "ejection to expire", func() bool { return p.Snapshot().Members[0].HalfOpen })
		get(t, pickMember(t, p, mb), "/")
		st := p.Snapshot().Members[0]
		if st.Ejected || st.HalfOpen || !st.Available {
			t.Fatalf("after a good trial: %+v", st)
		}
		if v, _ := metricValue(t, mt, "edgegate_origin_healthy", healthLabels); v != 1 {
			t.Errorf("health gauge after recovery = %v, want 1", v)
		}
		// Failures counted before the ejection are gone: two more do not eject.
		fail.Store(true)
		get(t, mb, "/")
		get(t, mb, "/")
		if !mb.Healthy() {
			t.Fatal("old failures still counted after recovery")
		}
	})
}

// pickMember picks until want comes up (round robin over two members gets
// there within a few picks).
func pickMember(t *testing.T, p *Pool, want *Member) *Member {
	t.Helper()
	for range 10 {
		m, err := p.Pick(HashInput{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m == want {
			return m
		}
	}
	t.Fatalf("%s never picked", want.URL().Host)
	return nil
}

func TestPassiveWindowAndOff(t *testing.T) {
	t.Run("failures outside the window do not add up", func(t *testing.T) {
		pc := passivePool(t, fakeMembers(1)...)
		pc.Passive.Window = 20 * time.Millisecond
		m := newSet(t, []config.Pool{pc}, Options{}).Pool("p").Members()[0]
		for range 5 {
			m.Begin()(OutcomeTimeout)
			m.Begin()(OutcomeConnectError)
			time.Sleep(30 * time.Millisecond) // longer than the window
		}
		if !m.Healthy() {
			t.Fatal("ejected by failures spread wider than the window")
		}
	})
	t.Run("errors and successes do not count", func(t *testing.T) {
		m := newSet(t, []config.Pool{passivePool(t, fakeMembers(1)...)}, Options{}).Pool("p").Members()[0]
		for range 10 {
			m.Begin()(OutcomeError)
			m.Begin()(OutcomeOK)
		}
		if !m.Healthy() {
			t.Fatal("ejected without counted failures")
		}
	})
	t.Run("max_failures 0 is off", func(t *testing.T) {
		pc := passivePool(t, fakeMembers(1)...)
		pc.Passive.MaxFailures = 0
		m := newSet(t, []config.Pool{pc}, Options{}).Pool("p").Members()[0]
		for range 20 {
			m.Begin()(OutcomeConnectError)
		}
		if !m.Healthy() {
			t.Fatal("ejected with passive checks off")
		}
	})
	t.Run("end called twice counts once", func(t *testing.T) {
		m := newSet(t, []config.Pool{passivePool(t, fakeMembers(1)...)}, Options{}).Pool("p").Members()[0]
		end := m.Begin()
		end(OutcomeConnectError)
		end(OutcomeConnectError)
		end(OutcomeConnectError)
		if !m.Healthy() || m.InFlight() != 0 || m.Pool().InFlight() != 0 {
			t.Fatalf("healthy=%v in flight=%d/%d", m.Healthy(), m.InFlight(), m.Pool().InFlight())
		}
	})
}

func TestFailover(t *testing.T) {
	primary, backup := newFlippable(t), newFlippable(t)
	pp := withChecks(poolCfg(t, "primary", primary.url))
	pp.Failover = "backup"
	set := newSet(t, []config.Pool{pp, poolCfg(t, "backup", backup.url)}, Options{})
	set.Start()
	p := set.Pool("primary")

	m, err := p.Pick(HashInput{}, nil)
	if err != nil || m.Pool() != p {
		t.Fatalf("healthy primary: Pick = %v, %v", m, err)
	}

	primary.down.Store(true)
	eventually(t, "primary down", func() bool { return !p.Members()[0].Healthy() })
	m, err = p.Pick(HashInput{}, nil)
	if err != nil || m.Pool() != set.Pool("backup") {
		t.Fatalf("primary down: Pick = %v, %v; want a backup member", m, err)
	}
	if resp, _ := get(t, m, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("request through backup: %d", resp.StatusCode)
	}
	// The backup member, once tried, is not offered again.
	if _, err := p.Pick(HashInput{}, []*Member{m}); !errors.Is(err, ErrNoMember) {
		t.Fatalf("everything tried: err = %v", err)
	}

	primary.down.Store(false)
	eventually(t, "primary back", p.Members()[0].Healthy)
	if m, _ := p.Pick(HashInput{}, nil); m.Pool() != p {
		t.Fatal("traffic did not return to the primary")
	}
}

func TestFailoverRetryGoesToBackup(t *testing.T) {
	pp := poolCfg(t, "a", fakeMembers(1)...)
	pp.Failover = "b"
	set := newSet(t, []config.Pool{pp, poolCfg(t, "b", "http://127.0.0.1:10050")}, Options{})
	first, _ := set.Pool("a").Pick(HashInput{}, nil)
	second, err := set.Pool("a").Pick(HashInput{}, []*Member{first})
	if err != nil || second.Pool().Name() != "b" {
		t.Fatalf("retry Pick = %v, %v; want pool b", second, err)
	}
}

func TestErrNoMember(t *testing.T) {
	pa := poolCfg(t, "a", fakeMembers(2)...)
	pa.Failover = "b"
	pb := poolCfg(t, "b", "http://127.0.0.1:10050")
	set := newSet(t, []config.Pool{pa, pb}, Options{})
	for _, p := range set.Pools() {
		for _, m := range p.Members() {
			m.up.Store(false)
		}
	}
	m, err := set.Pool("a").Pick(HashInput{}, nil)
	if m != nil || !errors.Is(err, ErrNoMember) {
		t.Fatalf("Pick = %v, %v; want ErrNoMember (never an unhealthy member)", m, err)
	}
	allocs := testing.AllocsPerRun(50, func() { _, _ = set.Pool("a").Pick(HashInput{}, nil) })
	if allocs != 0 {
		t.Errorf("failing Pick allocates %.1f times", allocs)
	}
}

func TestChecksStopOnClose(t *testing.T) {
	f, g := newFlippable(t), newFlippable(t)
	before := runtime.NumGoroutine()
	pc := withChecks(poolCfg(t, "p", f.url, g.url))
	set, err := NewSet([]config.Pool{pc}, Options{Timeouts: testTimeouts, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	set.Start()
	set.Start() // idempotent: no second set of checkers
	eventually(t, "checks running", func() bool { return f.checks.Load() >= 4 })
	set.Close(nil)
	// A check already sent when Close cancelled it may still reach the
	// origin's handler (at most one per member); after that, silence.
	atClose := f.checks.Load() + g.checks.Load()
	time.Sleep(50 * time.Millisecond)
	n := f.checks.Load() + g.checks.Load()
	if n > atClose+2 {
		t.Errorf("%d checks reached the origins after Close, want at most one per member", n-atClose)
	}
	time.Sleep(100 * time.Millisecond) // ten intervals
	if got := f.checks.Load() + g.checks.Load(); got != n {
		t.Errorf("%d checks after Close", got-n)
	}
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	set.Start() // after Close: must not restart
	time.Sleep(50 * time.Millisecond)
	if got := f.checks.Load() + g.checks.Load(); got != n {
		t.Errorf("Start after Close ran %d checks", got-n)
	}
}
