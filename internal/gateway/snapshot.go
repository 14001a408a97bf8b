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
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/metrics"
	"github.com/edgegate/edgegate/internal/route"
	"github.com/edgegate/edgegate/internal/upstream"
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
		if snap.session, err = compileSession(cfg, prev, g); err == nil {
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
	return &Snapshot{
		Config: cfg,
		Routes: routes,
		Pools:  pools,
		Hygiene: &hygiene.Policy{
			TrustedProxies: cfg.TrustedProxies,
			MaxURIBytes:    cfg.Limits.MaxURIBytes,
		},
		Loaded: time.Now(),
	}, nil
}
