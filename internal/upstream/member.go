package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome is how one attempt on a member ended.
type Outcome int

const (
	// OutcomeOK: the origin answered (any status below 500, or 501).
	OutcomeOK Outcome = iota
	// OutcomeConnectError: no connection could be made; counts toward ejection.
	OutcomeConnectError
	// OutcomeTimeout: no response headers in time; counts toward ejection.
	OutcomeTimeout
	// OutcomeError: another failure (broken response, protocol error); it
	// does not count toward ejection because the request, not the member,
	// may be at fault.
	OutcomeError
	// OutcomeStatus5xx: the origin answered with a server error; counts
	// toward ejection.
	OutcomeStatus5xx
	numOutcomes
)

// String is the outcome's label value in edgegate_origin_requests_total.
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeConnectError:
		return "connect_error"
	case OutcomeTimeout:
		return "timeout"
	case OutcomeError:
		return "error"
	case OutcomeStatus5xx:
		return "status_5xx"
	}
	return "unknown"
}

func (o Outcome) failure() bool {
	return o == OutcomeConnectError || o == OutcomeTimeout || o == OutcomeStatus5xx
}

// Member is one origin server of a pool. It is safe for concurrent use.
type Member struct {
	pool   *Pool
	url    *url.URL
	label  string // scheme://host:port, the metrics label and status name
	weight int64
	seed   uint64 // rendezvous seed, from label only so it is stable across reloads

	inFlight atomic.Int64
	// slots holds one token per request in flight when the pool has
	// max_conns_per_member; nil without a limit. Channel senders wait in
	// FIFO order, so the queue is fair.
	slots chan struct{}
	// up is the active health verdict; written only by the member's checker.
	up atomic.Bool

	// Passive ejection. ejectedUntil is 0 when the member is in service,
	// otherwise the unix-nano time the ejection ends; after it the member is
	// half-open. gen counts ejection state changes so that outcomes of
	// requests begun in an earlier state are ignored. probeSince is when the
	// half-open trial request was handed out (0: none).
	ejectedUntil atomic.Int64
	gen          atomic.Uint64
	probeSince   atomic.Int64
	pmu          sync.Mutex // guards failures, fnext, fcount and state changes
	failures     []int64    // ring of the last MaxFailures failure times
	fnext        int
	fcount       int

	// rrCurrent is the smooth weighted round robin state; guarded by pool.rrMu.
	rrCurrent int64

	// Active check counters; touched only by the checker goroutine.
	okRun, failRun int

	hmu         sync.Mutex                      // orders publishHealth calls
	healthGauge prometheus.Gauge                // nil without metrics
	outcomes    [numOutcomes]prometheus.Counter // nil without metrics
}

func newMember(p *Pool, u *url.URL, weight int) *Member {
	m := &Member{
		pool:   p,
		url:    &url.URL{Scheme: u.Scheme, Host: u.Host},
		label:  u.Scheme + "://" + u.Host,
		weight: int64(weight),
	}
	m.seed = hashString(m.label)
	if p.maxConns > 0 {
		m.slots = make(chan struct{}, p.maxConns)
	}
	m.up.Store(true)
	if p.passive.MaxFailures > 0 {
		m.failures = make([]int64, p.passive.MaxFailures)
	}
	if mt := p.metrics; mt != nil {
		m.healthGauge = mt.OriginHealth.WithLabelValues(p.name, m.label)
		for o := range numOutcomes {
			m.outcomes[o] = mt.OriginRequests.WithLabelValues(p.name, m.label, o.String())
		}
		m.publishHealth()
	}
	return m
}

// URL is the member's base URL (scheme and host only). It is shared: do
// not modify it.
func (m *Member) URL() *url.URL { return m.url }

// Pool is the pool the member belongs to, which is a failover pool when
// Pick fell over.
func (m *Member) Pool() *Pool { return m.pool }

// Transport is the pool's shared keep-alive transport. It bypasses
// max_conns_per_member; the proxy uses Send.
func (m *Member) Transport() http.RoundTripper { return m.pool.rt }

// Weight is the configured weight.
func (m *Member) Weight() int { return int(m.weight) }

// InFlight is the number of requests in flight to the member.
func (m *Member) InFlight() int64 { return m.inFlight.Load() }

// Healthy reports whether the member is in service: it passes active
// checks and is not ejected. A member whose ejection has expired
// (half-open) counts as healthy.
func (m *Member) Healthy() bool {
	if !m.up.Load() {
		return false
	}
	until := m.ejectedUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

// usable reports whether Pick may choose m: healthy, not in tried, and, when
// half-open, no trial request outstanding.
func (m *Member) usable(tried []*Member) bool {
	if !m.up.Load() {
		return false
	}
	for _, t := range tried {
		if t == m {
			return false
		}
	}
	until := m.ejectedUntil.Load()
	if until == 0 {
		return true
	}
	now := time.Now().UnixNano()
	if now < until {
		return false
	}
	// Half-open: one trial at a time. A trial whose outcome never came
	// back (caller bug) stops blocking after another eject_for.
	since := m.probeSince.Load()
	return since == 0 || now-since >= int64(m.pool.passive.EjectFor)
}

// claimProbe marks the half-open trial as handed out. Two Picks racing for
// the same half-open member may both get it; that is harmless.
func (m *Member) claimProbe() {
	if m.ejectedUntil.Load() == 0 {
		return
	}
	since := m.probeSince.Load()
	m.probeSince.CompareAndSwap(since, time.Now().UnixNano())
}

// Begin marks one request in flight on m and returns the func to call
// exactly once with its outcome. Outcomes feed passive ejection and the
// edgegate_origin_requests_total counter. Calls after the first are ignored.
// Begin does not take a max_conns_per_member slot; Send does.
func (m *Member) Begin() func(Outcome) { return m.begin().End }

func (m *Member) begin() *Attempt {
	m.inFlight.Add(1)
	p := m.pool
	p.inFlight.Add(1)
	if p.inFlightGauge != nil {
		p.inFlightGauge.Inc()
	}
	return &Attempt{m: m, gen: m.gen.Load()}
}

// ErrQueueTimeout is wrapped (with ErrResponseTimeout) by the error of a
// request that waited for a member's connection slot until its deadline.
var ErrQueueTimeout = errors.New("no connection slot in time")

// Send sends req to m the way the proxy does, under ctx (which replaces
// req's own context). When the pool has
// max_conns_per_member and m is at it, Send first waits for a slot
// (issue #7's queue time), bounded by req's context and timeout. Then the
// attempt starts (it counts as in flight) and req goes out; timeout, counted
// from the call, also bounds the wait for response headers, not the body.
// A timeout <= 0 leaves only the context.
//
// With a nil *Attempt nothing was sent: the wait for a slot ended, and err
// wraps ErrQueueTimeout or the context's error. Otherwise the caller must
// End the attempt exactly once, after the response body was read or closed
// (or at once when err is not nil). A response-header timeout wraps
// ErrResponseTimeout.
func (m *Member) Send(ctx context.Context, req *http.Request, timeout time.Duration) (*Attempt, *http.Response, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	p := m.pool
	if m.slots != nil {
		if err := m.acquire(ctx, deadline); err != nil {
			return nil, nil, err
		}
	} else if p.queueHist != nil {
		p.queueHist.Observe(0)
	}
	a := m.begin()
	a.slot = m.slots != nil
	if p.h1 != nil && p.h1.lean(req) {
		// The lean transport takes the deadline as is: no context, no timer.
		resp, err := p.h1.roundTrip(ctx, req, deadline)
		return a, resp, err
	}
	if timeout <= 0 {
		resp, err := p.transport.RoundTrip(req.WithContext(ctx))
		return a, resp, err
	}
	tctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	timer := time.AfterFunc(time.Until(deadline), cancel)
	resp, err := p.transport.RoundTrip(req.WithContext(tctx))
	if !timer.Stop() && err != nil && ctx.Err() == nil {
		err = fmt.Errorf("upstream: %w: %w", ErrResponseTimeout, err)
	}
	return a, resp, err
}

// acquire takes one of m's connection slots, waiting until deadline (zero:
// no deadline) or the end of ctx. Every call is observed in the pool's
// queue-time histogram, including waits that gave up.
func (m *Member) acquire(ctx context.Context, deadline time.Time) error {
	p := m.pool
	select {
	case m.slots <- struct{}{}:
		if p.queueHist != nil {
			p.queueHist.Observe(0)
		}
		return nil
	default:
	}
	start := time.Now()
	if p.queuedGauge != nil {
		p.queuedGauge.Inc()
		defer p.queuedGauge.Dec()
	}
	if p.queueHist != nil {
		defer func() { p.queueHist.Observe(time.Since(start).Seconds()) }()
	}
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case m.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upstream: waiting for a connection slot of %s: %w", m.label, ctx.Err())
	case <-expired:
		return fmt.Errorf("upstream: waiting for a connection slot of %s: %w: %w", m.label, ErrQueueTimeout, ErrResponseTimeout)
	}
}

// Attempt is one request on a member, from Begin or Send to End.
type Attempt struct {
	m      *Member
	gen    uint64
	done   atomic.Bool
	slot   bool               // holds one of m.slots
	cancel context.CancelFunc // of the fallback transport's context; nil on the lean path
}

// End records the attempt's outcome and frees what it held; calls after
// the first are ignored.
func (a *Attempt) End(o Outcome) {
	if !a.done.CompareAndSwap(false, true) {
		return
	}
	if a.cancel != nil {
		a.cancel()
	}
	m := a.m
	if a.slot {
		<-m.slots
	}
	p := m.pool
	m.inFlight.Add(-1)
	p.inFlight.Add(-1)
	if p.inFlightGauge != nil {
		p.inFlightGauge.Dec()
	}
	if o < 0 || o >= numOutcomes {
		o = OutcomeError
	}
	if c := m.outcomes[o]; c != nil {
		c.Inc()
	}
	if p.passive.MaxFailures > 0 {
		m.passiveRecord(a.gen, o)
	}
}

// passiveRecord updates the ejection state with one outcome.
func (m *Member) passiveRecord(gen uint64, o Outcome) {
	fail := o.failure()
	if !fail && m.ejectedUntil.Load() == 0 {
		return // the common case: a success while in service
	}
	m.pmu.Lock()
	defer m.pmu.Unlock()
	if m.gen.Load() != gen {
		return // begun before the last ejection or recovery
	}
	now := time.Now().UnixNano()
	if until := m.ejectedUntil.Load(); until != 0 {
		switch {
		case now < until:
			// Still ejected: cannot be a trial request.
		case fail:
			m.ejectLocked(now, "half-open trial failed", o)
		case o == OutcomeOK:
			m.restoreLocked()
		default:
			// Inconclusive: let another request try.
			m.probeSince.Store(0)
		}
		return
	}
	if !fail {
		return
	}
	pc := m.pool.passive
	m.failures[m.fnext] = now
	m.fnext = (m.fnext + 1) % len(m.failures)
	if m.fcount < len(m.failures) {
		m.fcount++
	}
	// After the write, fnext holds the oldest of the last MaxFailures failures.
	if m.fcount == len(m.failures) && now-m.failures[m.fnext] <= int64(pc.Window) {
		m.ejectLocked(now, "too many failures", o)
	}
}

func (m *Member) ejectLocked(now int64, why string, o Outcome) {
	pc := m.pool.passive
	m.ejectedUntil.Store(now + int64(pc.EjectFor))
	m.probeSince.Store(0)
	m.resetFailuresLocked()
	m.gen.Add(1)
	m.publishHealth()
	m.pool.log.Warn("origin member ejected", "member", m.label, "reason", why,
		"last_outcome", o.String(), "max_failures", pc.MaxFailures, "window", pc.Window, "eject_for", pc.EjectFor)
}

func (m *Member) restoreLocked() {
	m.ejectedUntil.Store(0)
	m.probeSince.Store(0)
	m.resetFailuresLocked()
	m.gen.Add(1)
	m.publishHealth()
	m.pool.log.Info("origin member back in service", "member", m.label)
}

func (m *Member) resetFailuresLocked() {
	clear(m.failures)
	m.fnext, m.fcount = 0, 0
}

// publishHealth sets the health gauge: 1 when checks pass and the member is
// not ejected. A half-open member reads 0 until its trial succeeds.
func (m *Member) publishHealth() {
	if m.healthGauge == nil {
		return
	}
	m.hmu.Lock()
	defer m.hmu.Unlock()
	v := 0.0
	if m.up.Load() && m.ejectedUntil.Load() == 0 {
		v = 1
	}
	m.healthGauge.Set(v)
}
