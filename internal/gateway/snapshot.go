// Package gateway is the edge: it compiles a validated configuration into an
// immutable *Snapshot, serves requests through the pipeline (framing guard →
// hygiene → gateway endpoints → route → authentication → policy →
// onClientRequest → redirect, or cache → origin-side scripts → origin with a
// signed identity assertion), and swaps snapshots on reload, make before
// break. Each later stage lives in a stage_<name>.go file of its own.
//
// A request loads the snapshot once, at its start, and uses that one to its
// end; a reload builds the next snapshot beside the current one (reusing
// origin pools whose configuration did not change, so health state and idle
// connections survive), starts it, swaps the pointer, and only then stops
// what the old snapshot alone used.
package gateway

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/metrics"
	"github.com/edgegate/edgegate/internal/route"
	"github.com/edgegate/edgegate/internal/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is everything one request needs, compiled from one *config.Config.
// Nothing in it changes after Compile returns.
type Snapshot struct {
	Config  *config.Config
	Routes  *route.Table
	Pools   *upstream.Set
	Hygiene *hygiene.Policy
	// Loaded is when the snapshot was built.
	Loaded time.Time

	authn   *authnStage
	session *sessionStage
	policy  *policyStage
	assert  *assertStage
	script  *scriptStage
	cache   *cacheStage

	// routeMetrics holds each route's metric children (and "-" for
	// requests no route took), resolved at compile time so that a request
	// does not hash label values (issue #2).
	routeMetrics map[string]*routeMetrics
}

// routeMetrics are the edgegate_requests_total and
// edgegate_request_duration_seconds children of one route. Children are
// made on first use, so a route that served nothing has no series.
type routeMetrics struct {
	route     string
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	duration  atomic.Pointer[prometheus.Observer]
	mu        sync.RWMutex
	codes     map[int]prometheus.Counter // guarded by mu
}

func newRouteMetrics(m *metrics.Metrics, route string) *routeMetrics {
	return &routeMetrics{
		route:     route,
		requests:  m.Requests,
		durations: m.Duration,
		codes:     make(map[int]prometheus.Counter),
	}
}

// observer returns the route's duration histogram.
func (rm *routeMetrics) observer() prometheus.Observer {
	if o := rm.duration.Load(); o != nil {
		return *o
	}
	o := rm.durations.WithLabelValues(rm.route)
	rm.duration.Store(&o)
	return o
}

// counter returns the requests counter of status.
func (rm *routeMetrics) counter(status int) prometheus.Counter {
	rm.mu.RLock()
	c := rm.codes[status]
	rm.mu.RUnlock()
	if c != nil {
		return c
	}
	c = rm.requests.WithLabelValues(rm.route, statusLabel(status))
	rm.mu.Lock()
	rm.codes[status] = c
	rm.mu.Unlock()
	return c
}

// compile builds a snapshot from cfg. prev, when not nil, is the snapshot in
// service: pools with identical configuration, JWKS key sets, compiled CEL
// and compiled scripts are taken over from it. The returned snapshot's pools
// are not started; New and Apply do that once it is complete.
func (g *Gateway) compile(cfg *config.Config, prev *Snapshot) (*Snapshot, error) {
	snap, err := compileCore(cfg, prev, g.metrics, g.log)
	if err != nil {
		return nil, err
	}
	if snap.authn, err = compileAuthn(cfg, prev, g); err == nil {
		if snap.session, err = compileSession(cfg, prev, g, snap.authn); err == nil {
			if snap.policy, err = compilePolicy(cfg, prev, g); err == nil {
				if snap.assert, err = compileAssert(cfg, prev, g); err == nil {
					if snap.script, err = compileScript(cfg, prev, g); err == nil {
						snap.cache, err = compileCache(cfg, prev, g)
					}
				}
			}
		}
	}
	if err != nil {
		// Nothing of this snapshot went live: drop its new pools, keep the
		// ones it shares with the snapshot in service.
		var keep *upstream.Set
		if prev != nil {
			keep = prev.Pools
		}
		snap.Pools.Close(keep)
		return nil, err
	}
	return snap, nil
}

// compileCore builds the parts every snapshot has: routes, pools, hygiene.
func compileCore(cfg *config.Config, prev *Snapshot, m *metrics.Metrics, log *slog.Logger) (*Snapshot, error) {
	routes, err := route.Compile(cfg.Routes, cfg.Positions)
	if err != nil {
		return nil, fmt.Errorf("compile routes: %w", err)
	}
	opts := upstream.Options{Timeouts: cfg.Timeouts, Metrics: m, Logger: log}
	if prev != nil {
		opts.Previous = prev.Pools
	}
	pools, err := upstream.NewSet(cfg.Pools, opts)
	if err != nil {
		return nil, fmt.Errorf("build origin pools: %w", err)
	}
	rms := make(map[string]*routeMetrics, len(cfg.Routes)+1)
	rms["-"] = newRouteMetrics(m, "-")
	for i := range cfg.Routes {
		name := cfg.Routes[i].Name
		rms[name] = newRouteMetrics(m, name)
	}
	return &Snapshot{
		routeMetrics: rms,
		Config:       cfg,
		Routes:       routes,
		Pools:        pools,
		Hygiene: &hygiene.Policy{
			TrustedProxies: cfg.TrustedProxies,
			MaxURIBytes:    cfg.Limits.MaxURIBytes,
			// The assertion header may be any name (issue #4): a client's
			// copy, in any spelling, must be gone before authentication,
			// policy and scripts see the request, not only before the
			// origin does. X-Forwarded-User & co. are built in.
			IdentityHeaders: []string{cfg.Assertion.Header},
		},
		Loaded: time.Now(),
	}, nil
}
