// Package upstream turns validated origin pools into something the proxy can
// send requests to: per-pool keep-alive transports (HTTP/1.1, HTTP/2 over TLS,
// h2c, mTLS), load balancing, active health checks, passive ejection and
// failover between pools.
//
// A *Set is built once per configuration snapshot. Pools whose configuration
// (including the bytes of their TLS files and their failover chain) did not
// change across a reload are carried over as the very same *Pool, so health
// state, ejections and idle connections survive the reload. The lifecycle is
// make-before-break:
//
//	next, err := upstream.NewSet(cfg.Pools, upstream.Options{Previous: cur, ...})
//	next.Start()      // start health checks of new pools
//	// ... swap snapshots ...
//	cur.Close(next)   // stop what next did not reuse
//
// A set that is built but never activated is discarded with
// next.Close(cur), which leaves the pools it shares with cur running.
//
// Members start healthy, so a fresh configuration serves at once; active
// checks then take a member down after unhealthy_threshold consecutive
// failures. Selection fails closed: unhealthy and ejected members are never
// used as a last resort; with no usable member in a pool or its failover
// chain, Pick returns an error wrapping ErrNoMember (the proxy answers 503).
package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
)

// ErrNoMember is wrapped by every Pick error: no healthy, untried member
// is left in the pool or its failover chain.
var ErrNoMember = errors.New("no healthy origin member")

// Options configure NewSet.
type Options struct {
	// Timeouts supplies the origin connect and response timeouts of pools
	// that do not override them.
	Timeouts config.Timeouts
	// Metrics receives health, request and in-flight numbers; nil disables them.
	Metrics *metrics.Metrics
	// Logger receives health transitions; nil discards them.
	Logger *slog.Logger
	// Previous is the set of the snapshot being replaced. Pools whose
	// fingerprint is unchanged are reused from it as-is.
	Previous *Set
}

// Set is every pool of one configuration snapshot. It is safe for
// concurrent use.
type Set struct {
	pools map[string]*Pool
	order []*Pool // config order
}

// NewSet builds the pools of one snapshot, reusing unchanged pools of
// opts.Previous. It reads TLS files, builds transports and checks that every
// failover reference names another pool without forming a cycle. Nothing is
// started; call Start.
func NewSet(pools []config.Pool, opts Options) (*Set, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &setBuilder{
		opts:  opts,
		cfgs:  make(map[string]*config.Pool, len(pools)),
		state: make(map[string]int, len(pools)),
		fps:   make(map[string][32]byte, len(pools)),
		built: make(map[string]*Pool, len(pools)),
	}
	for i := range pools {
		pc := &pools[i]
		if pc.Name == "" {
			return nil, fmt.Errorf("upstream: pools[%d]: empty name", i)
		}
		if _, dup := b.cfgs[pc.Name]; dup {
			return nil, fmt.Errorf("upstream: pool %q: defined twice", pc.Name)
		}
		if len(pc.Members) == 0 {
			return nil, fmt.Errorf("upstream: pool %q: no members", pc.Name)
		}
		b.cfgs[pc.Name] = pc
	}
	s := &Set{pools: make(map[string]*Pool, len(pools)), order: make([]*Pool, 0, len(pools))}
	for i := range pools {
		p, err := b.build(pools[i].Name)
		if err != nil {
			b.discard()
			return nil, fmt.Errorf("upstream: %w", err)
		}
		s.pools[p.name] = p
		s.order = append(s.order, p)
	}
	return s, nil
}

// setBuilder resolves pools depth-first along failover references, so a
// pool is always built (or reused) after its failover pool.
type setBuilder struct {
	opts  Options
	cfgs  map[string]*config.Pool
	state map[string]int // 0 unvisited, 1 in progress, 2 done
	fps   map[string][32]byte
	built map[string]*Pool
	fresh []*Pool // built new by this builder, closed if NewSet fails
}

func (b *setBuilder) build(name string) (*Pool, error) {
	switch b.state[name] {
	case 2:
		return b.built[name], nil
	case 1:
		return nil, fmt.Errorf("pool %q: failover chain forms a cycle: %w", name, errBadFailover)
	}
	b.state[name] = 1
	pc := b.cfgs[name]

	var failover *Pool
	var failoverFP *[32]byte
	if pc.Failover != "" {
		if pc.Failover == pc.Name {
			return nil, fmt.Errorf("pool %q: failover names the pool itself: %w", name, errBadFailover)
		}
		if _, ok := b.cfgs[pc.Failover]; !ok {
			return nil, fmt.Errorf("pool %q: failover %q: no such pool: %w", name, pc.Failover, errBadFailover)
		}
		var err error
		if failover, err = b.build(pc.Failover); err != nil {
			return nil, err
		}
		fp := b.fps[pc.Failover]
		failoverFP = &fp
	}

	connect, response := effectiveTimeouts(pc, b.opts.Timeouts)
	mat, err := readTLSMaterial(pc)
	if err != nil {
		return nil, err
	}
	fp, err := fingerprint(pc, mat, connect, response, failoverFP)
	if err != nil {
		return nil, err
	}
	b.fps[name] = fp

	var p *Pool
	if prev := b.opts.Previous.Pool(name); prev != nil && prev.reusable(fp, b.opts.Metrics, failover) {
		p = prev
	} else {
		p, err = newPool(pc, mat, fp, connect, response, failover, b.opts)
		if err != nil {
			return nil, err
		}
		b.fresh = append(b.fresh, p)
	}
	b.built[name] = p
	b.state[name] = 2
	return p, nil
}

// discard releases what a failed NewSet built: nothing was started, but
// the new pools registered metrics series that the previous set may not have.
func (b *setBuilder) discard() {
	for _, p := range b.fresh {
		p.close()
		p.dropMetrics(b.opts.Previous.Pool(p.name))
	}
}

// Start starts the active health checks of pools that are not running yet.
// Pools reused from a previous set keep their running checkers. Start may be
// called more than once.
func (s *Set) Start() {
	if s == nil {
		return
	}
	for _, p := range s.order {
		p.start()
	}
}

// Close stops the health checks and closes the idle connections of every
// pool of s that keep does not also hold. keep is the set that replaces s
// (nil closes everything). Requests in flight on closed pools finish
// normally. Metrics series of members that keep no longer has are removed.
func (s *Set) Close(keep *Set) {
	if s == nil {
		return
	}
	for _, p := range s.order {
		kp := keep.Pool(p.name)
		if kp == p {
			continue
		}
		p.close()
		p.dropMetrics(kp)
	}
}

// Pool returns the named pool, or nil. A nil Set has no pools.
func (s *Set) Pool(name string) *Pool {
	if s == nil {
		return nil
	}
	return s.pools[name]
}

// Pools returns the pools in configuration order. The slice must not be
// modified.
func (s *Set) Pools() []*Pool {
	if s == nil {
		return nil
	}
	return s.order
}

// Snapshot returns the status of every pool, in configuration order.
func (s *Set) Snapshot() []PoolStatus {
	if s == nil {
		return nil
	}
	out := make([]PoolStatus, len(s.order))
	for i, p := range s.order {
		out[i] = p.Snapshot()
	}
	return out
}

// effectiveTimeouts applies a pool's overrides to the global origin timeouts.
func effectiveTimeouts(pc *config.Pool, t config.Timeouts) (connect, response time.Duration) {
	connect, response = t.OriginConnect, t.OriginResponse
	if pc.ConnectTimeout > 0 {
		connect = pc.ConnectTimeout
	}
	if pc.ResponseTimeout > 0 {
		response = pc.ResponseTimeout
	}
	return connect, response
}
