package upstream

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Pool is a built origin pool. It is safe for concurrent use.
type Pool struct {
	name            string
	fp              [32]byte
	balance         config.Balance
	hashKind        config.HashKind
	hashName        string // canonical header name or cookie name
	uniformWeights  bool
	retries         int
	responseTimeout time.Duration
	passive         config.PassiveHealth
	health          *config.HealthCheck // nil: no active checks
	failover        *Pool
	// errNoMember is built once so that an outage does not allocate per request.
	errNoMember error

	members []*Member
	// transport is net/http's keep-alive transport; h1, for HTTP/1.1
	// pools, is the lean transport in front of it (h1.go), and rt is the
	// one members use.
	transport *http.Transport
	h1        *h1Transport
	rt        http.RoundTripper
	// maxConns is pools[].max_conns_per_member (0: no limit).
	maxConns int
	checks   *http.Client // nil without active checks
	checkTr  *http.Transport

	metrics       *metrics.Metrics
	inFlightGauge prometheus.Gauge // nil without metrics
	queueHist     prometheus.Observer
	queuedGauge   prometheus.Gauge
	log           *slog.Logger

	inFlight atomic.Int64
	// rrMu guards Member.rrCurrent of every member (smooth weighted round robin).
	rrMu sync.Mutex
	// lrNext rotates the start of the least_requests scan so that ties are
	// broken round robin.
	lrNext atomic.Uint64

	lifeMu  sync.Mutex // guards started, closed, cancel
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup // health checkers
}

func newPool(pc *config.Pool, mat *tlsMaterial, fp [32]byte, connect, response time.Duration, failover *Pool, opts Options) (*Pool, error) {
	tc, err := clientTLS(pc, mat)
	if err != nil {
		return nil, err
	}
	perHost := pc.MaxIdleConnsPerHost
	if perHost <= 0 {
		perHost = http.DefaultMaxIdleConnsPerHost
	}
	tr, err := newTransport(pc, tc, connect, perHost)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		name:            pc.Name,
		fp:              fp,
		balance:         pc.Balance,
		hashKind:        pc.Hash.Kind,
		retries:         pc.Retries,
		responseTimeout: response,
		passive:         pc.Passive,
		health:          pc.HealthCheck,
		failover:        failover,
		transport:       tr,
		rt:              tr,
		maxConns:        pc.MaxConnsPerMember,
		metrics:         opts.Metrics,
		log:             opts.Logger.With("pool", pc.Name),
		uniformWeights:  true,
	}
	switch p.balance {
	case "", config.BalanceRoundRobin, config.BalanceLeastRequests:
	case config.BalanceHash:
		switch p.hashKind {
		case config.HashHeader:
			p.hashName = textproto.CanonicalMIMEHeaderKey(pc.Hash.Name)
		case config.HashCookie:
			p.hashName = pc.Hash.Name
		case config.HashClientIP:
		default:
			return nil, fmt.Errorf("pool %q: unknown hash kind %q", pc.Name, p.hashKind)
		}
		if p.hashKind != config.HashClientIP && p.hashName == "" {
			return nil, fmt.Errorf("pool %q: hash %s needs a name", pc.Name, p.hashKind)
		}
	default:
		return nil, fmt.Errorf("pool %q: unknown balance %q", pc.Name, p.balance)
	}
	if p.balance == "" {
		p.balance = config.BalanceRoundRobin
	}
	if failover != nil {
		p.errNoMember = fmt.Errorf("pool %q and its failover pools have no healthy untried member: %w", p.name, ErrNoMember)
	} else {
		p.errNoMember = fmt.Errorf("pool %q has no healthy untried member: %w", p.name, ErrNoMember)
	}
	if p.passive.MaxFailures > 0 && (p.passive.Window <= 0 || p.passive.EjectFor <= 0) {
		return nil, fmt.Errorf("pool %q: passive window and eject_for must be positive", pc.Name)
	}
	if hc := p.health; hc != nil {
		if hc.Interval <= 0 || hc.Timeout <= 0 {
			return nil, fmt.Errorf("pool %q: health check interval and timeout must be positive", pc.Name)
		}
		// The checker gets its own transport (same TLS and protocol) so
		// checks neither queue behind nor evict the proxy's connections.
		p.checkTr, err = newTransport(pc, tc, connect, checkIdleConnsPerHost)
		if err != nil {
			return nil, err
		}
		p.checks = &http.Client{
			Transport: p.checkTr,
			Timeout:   hc.Timeout,
			// A redirect is an answer, judged by its status; following it
			// could check a different server.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if pc.Protocol == config.ProtocolHTTP1 || pc.Protocol == "" {
		p.h1 = newH1Transport(tr, tc, connect, perHost)
		p.rt = p.h1
	}
	if opts.Metrics != nil {
		p.inFlightGauge = opts.Metrics.PoolInFlight.WithLabelValues(p.name)
		p.queueHist = opts.Metrics.PoolQueue.WithLabelValues(p.name)
		p.queuedGauge = opts.Metrics.PoolQueued.WithLabelValues(p.name)
	}
	p.members = make([]*Member, len(pc.Members))
	for i, mc := range pc.Members {
		if mc.URL == nil || mc.URL.Host == "" || (mc.URL.Scheme != "http" && mc.URL.Scheme != "https") {
			return nil, fmt.Errorf("pool %q: members[%d]: need an http or https URL with a host", pc.Name, i)
		}
		w := max(mc.Weight, 1)
		if i > 0 && int64(w) != p.members[0].weight {
			p.uniformWeights = false
		}
		p.members[i] = newMember(p, mc.URL, w)
	}
	return p, nil
}

// reusable reports whether p can serve a new set whose pool has fingerprint
// fp, metrics m and the (already resolved) failover pool failover.
func (p *Pool) reusable(fp [32]byte, m *metrics.Metrics, failover *Pool) bool {
	p.lifeMu.Lock()
	closed := p.closed
	p.lifeMu.Unlock()
	return !closed && p.fp == fp && p.metrics == m && p.failover == failover
}

// start launches one checker goroutine per member; a no-op when already
// started, after close, or without active checks.
func (p *Pool) start() {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	for _, m := range p.members {
		m.publishHealth()
	}
	if p.health == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, m := range p.members {
		p.wg.Add(1)
		go m.runChecks(ctx)
	}
}

// close stops the checkers, waits for them and drops idle connections.
// Idempotent.
func (p *Pool) close() {
	p.lifeMu.Lock()
	if p.closed {
		p.lifeMu.Unlock()
		return
	}
	p.closed = true
	if p.cancel != nil {
		p.cancel()
	}
	p.lifeMu.Unlock()
	p.wg.Wait()
	if p.h1 != nil {
		p.h1.CloseIdleConnections() // and the fallback's
	} else {
		p.transport.CloseIdleConnections()
	}
	if p.checkTr != nil {
		p.checkTr.CloseIdleConnections()
	}
}

// dropMetrics removes the series of p that its successor (the pool of the
// same name in the next set, possibly nil) does not share, and re-publishes
// the successor's health for shared series, which p may have written last.
func (p *Pool) dropMetrics(next *Pool) {
	if p.metrics == nil {
		return
	}
	shared := func(label string) *Member {
		if next == nil || next.metrics != p.metrics {
			return nil
		}
		for _, nm := range next.members {
			if nm.label == label {
				return nm
			}
		}
		return nil
	}
	for _, m := range p.members {
		if nm := shared(m.label); nm != nil {
			nm.publishHealth()
			continue
		}
		p.metrics.OriginHealth.DeleteLabelValues(p.name, m.label)
		p.metrics.OriginRequests.DeletePartialMatch(prometheus.Labels{"pool": p.name, "member": m.label})
	}
	if next == nil || next.metrics != p.metrics {
		p.metrics.PoolInFlight.DeleteLabelValues(p.name)
		p.metrics.PoolQueue.DeleteLabelValues(p.name)
		p.metrics.PoolQueued.DeleteLabelValues(p.name)
	}
}

// Name is the pool's configured name.
func (p *Pool) Name() string { return p.name }

// Retries is how many other members one request may be retried on.
func (p *Pool) Retries() int { return p.retries }

// ResponseTimeout is the pool's time-to-response-headers budget (its
// override or the global origin_response timeout).
func (p *Pool) ResponseTimeout() time.Duration { return p.responseTimeout }

// InFlight is the number of requests in flight to the pool's members.
func (p *Pool) InFlight() int64 { return p.inFlight.Load() }

// Members returns the pool's members in configuration order. The slice
// must not be modified.
func (p *Pool) Members() []*Member { return p.members }

// Failover returns the failover pool, or nil.
func (p *Pool) Failover() *Pool { return p.failover }

// HashInput is what a hash pool may hash on: the request header (for a
// header or cookie key) and the client address.
type HashInput struct {
	Header   http.Header
	ClientIP netip.Addr
}

// Pick chooses a member for one attempt. Members in tried (from any pool)
// are skipped, as are unhealthy and ejected ones. When the pool has no
// usable member it asks its failover pool, recursively. A tried member is
// never returned again: retries go to other members or fail. The error
// wraps ErrNoMember.
func (p *Pool) Pick(key HashInput, tried []*Member) (*Member, error) {
	for q := p; q != nil; q = q.failover {
		if m := q.pick(key, tried); m != nil {
			m.claimProbe()
			return m, nil
		}
	}
	return nil, p.errNoMember
}

// pick runs the pool's balancer over its usable members; nil if none.
func (p *Pool) pick(key HashInput, tried []*Member) *Member {
	if len(p.members) == 1 {
		if m := p.members[0]; m.usable(tried) {
			return m
		}
		return nil
	}
	switch p.balance {
	case config.BalanceLeastRequests:
		return p.pickLeast(tried)
	case config.BalanceHash:
		if h, ok := p.hashKey(key); ok {
			return p.pickHash(h, tried)
		}
	}
	return p.pickRR(tried)
}

// PoolStatus is a pool's state for /readyz and the CLI.
type PoolStatus struct {
	Name     string `json:"name"`
	Balance  string `json:"balance"`
	Failover string `json:"failover,omitempty"`
	InFlight int64  `json:"in_flight"`
	// Available counts members Pick may choose now.
	Available int            `json:"available"`
	Members   []MemberStatus `json:"members"`
}

// MemberStatus is one member's state.
type MemberStatus struct {
	URL    string `json:"url"`
	Weight int    `json:"weight"`
	// Healthy is the active health check verdict (true without checks).
	Healthy bool `json:"healthy"`
	// Ejected is set while passive ejection keeps the member out;
	// EjectedUntil is when it will be tried again.
	Ejected      bool      `json:"ejected"`
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
	// HalfOpen is set once an ejection has expired and the member waits for
	// one request to prove itself.
	HalfOpen bool  `json:"half_open,omitempty"`
	InFlight int64 `json:"in_flight"`
	// Available says whether Pick may choose the member now.
	Available bool `json:"available"`
}

// Snapshot returns the pool's current state.
func (p *Pool) Snapshot() PoolStatus {
	st := PoolStatus{
		Name:     p.name,
		Balance:  string(p.balance),
		InFlight: p.inFlight.Load(),
		Members:  make([]MemberStatus, len(p.members)),
	}
	if p.failover != nil {
		st.Failover = p.failover.name
	}
	now := time.Now().UnixNano()
	for i, m := range p.members {
		ms := MemberStatus{
			URL:      m.label,
			Weight:   int(m.weight),
			Healthy:  m.up.Load(),
			InFlight: m.inFlight.Load(),
		}
		if until := m.ejectedUntil.Load(); until != 0 {
			if now < until {
				ms.Ejected = true
				ms.EjectedUntil = time.Unix(0, until)
			} else {
				ms.HalfOpen = true
			}
		}
		ms.Available = m.usable(nil)
		if ms.Available {
			st.Available++
		}
		st.Members[i] = ms
	}
	return st
}
