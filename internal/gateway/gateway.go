package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/edgegate/edgegate/internal/accesslog"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
	"github.com/edgegate/edgegate/internal/proxy"
)

// Gateway serves requests with the active snapshot and swaps snapshots on
// reload. Create one with New; it holds no process-wide state, so several
// can run in one process.
type Gateway struct {
	snap    atomic.Pointer[Snapshot]
	metrics *metrics.Metrics
	log     *slog.Logger
	access  *accesslog.Logger
	fwd     proxy.Forwarder

	// reloadMu serializes reloads; requests never take it.
	reloadMu sync.Mutex
	// ready is set once listeners are up.
	ready atomic.Bool

	// streams counts upgraded (hijacked) connections, which the HTTP
	// server's shutdown does not wait for; cutStreams ends them when the
	// drain deadline passes.
	streams    atomic.Int64
	streamsCtx context.Context
	cutStreams context.CancelFunc

	// tracer is nil when tracing is off.
	tracer *tracer

	// Gateway-lifetime state of later stages: it outlives snapshots.
	keys     *keysState
	auditor  *auditState
	sessions *sessionState
	cache    *cacheState
}

// Options configures New.
type Options struct {
	Logger *slog.Logger
	// AccessLog overrides where access log lines go (tests); nil follows the
	// configuration.
	AccessLog io.Writer
}

// New compiles cfg and returns a gateway serving it. Listeners are started
// by Serve.
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	g := &Gateway{metrics: metrics.New(), log: log}
	g.streamsCtx, g.cutStreams = context.WithCancel(context.Background())
	tr, err := newTracer(cfg.Tracing)
	if err != nil {
		return nil, err
	}
	g.tracer = tr
	// Keys first (the audit trail signs checkpoints and sessions seal
	// cookies with them), then the audit trail, then sessions.
	if err := g.initKeys(cfg); err != nil {
		g.tracer.shutdown()
		return nil, err
	}
	if err := g.initAudit(cfg); err != nil {
		g.closeKeys()
		return nil, err
	}
	if err := g.initSessions(cfg); err != nil {
		g.closeAudit()
		g.closeKeys()
		return nil, err
	}
	if err := g.initCache(cfg); err != nil {
		g.closeSessions()
		g.closeAudit()
		g.closeKeys()
		return nil, err
	}
	snap, err := g.compile(cfg, nil)
	if err != nil {
		g.closeLifetime()
		return nil, err
	}
	if cfg.Log.Access {
		switch {
		case opts.AccessLog != nil:
			g.access = accesslog.New(opts.AccessLog, 8192)
		case cfg.Log.AccessFile == "" || cfg.Log.AccessFile == "-":
			g.access = accesslog.New(os.Stdout, 8192)
		default:
			f, err := os.OpenFile(cfg.Log.AccessFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
			if err != nil {
				snap.Pools.Close(nil)
				g.closeLifetime()
				return nil, fmt.Errorf("open access log: %w", err)
			}
			g.access = accesslog.NewOwned(f, 8192)
		}
		g.metrics.SetAccessLogSource(metrics.AccessLogSource{Dropped: g.access.Dropped, WriteErrors: g.access.WriteErrors})
	}
	snap.Pools.Start()
	g.snap.Store(snap)
	g.metrics.Reloads.WithLabelValues("ok").Inc()
	g.metrics.ConfigInfo.WithLabelValues(cfg.Hash).Set(1)
	_ = g.recordConfigActivation(context.Background(), cfg, "")
	return g, nil
}

// Snapshot returns the snapshot in service.
func (g *Gateway) Snapshot() *Snapshot { return g.snap.Load() }

// Metrics returns the gateway's collectors.
func (g *Gateway) Metrics() *metrics.Metrics { return g.metrics }

// ErrUnchanged is returned by Apply when the configuration is the one
// already in service.
var ErrUnchanged = errors.New("configuration unchanged")

// Apply makes cfg the configuration in service: it compiles the next
// snapshot beside the current one, starts it, swaps it in, and then stops
// what only the old one used. Requests already running finish on the old
// snapshot. On error the current snapshot stays.
func (g *Gateway) Apply(cfg *config.Config) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.snap.Load()
	if old != nil && old.Config.Hash == cfg.Hash {
		return ErrUnchanged
	}
	if old != nil {
		if err := sameListeners(old.Config, cfg); err != nil {
			g.metrics.Reloads.WithLabelValues("error").Inc()
			return err
		}
	}
	next, err := g.compile(cfg, old)
	if err != nil {
		g.metrics.Reloads.WithLabelValues("error").Inc()
		return err
	}
	next.Pools.Start()
	g.snap.Store(next)
	if old != nil {
		old.Pools.Close(next.Pools)
		g.metrics.ConfigInfo.DeleteLabelValues(old.Config.Hash)
	}
	g.metrics.ConfigInfo.WithLabelValues(cfg.Hash).Set(1)
	g.metrics.Reloads.WithLabelValues("ok").Inc()
	g.log.Info("configuration active", "hash", short(cfg.Hash), "routes", len(cfg.Routes), "pools", len(cfg.Pools))
	_ = g.recordConfigActivation(context.Background(), cfg, old.Config.Hash)
	return nil
}

// ErrRestartRequired is returned by Apply for changes that cannot be made
// to a running process (listener sockets and the admin address).
var ErrRestartRequired = errors.New("change needs a restart")

func sameListeners(a, b *config.Config) error {
	// The audit trail and the tracer are opened once, at start.
	if !reflect.DeepEqual(a.Audit, b.Audit) {
		return fmt.Errorf("audit section changed: %w", ErrRestartRequired)
	}
	if a.Tracing != b.Tracing {
		return fmt.Errorf("tracing section changed: %w", ErrRestartRequired)
	}
	if a.Admin.Address != b.Admin.Address {
		return fmt.Errorf("admin.address changed from %q to %q: %w", a.Admin.Address, b.Admin.Address, ErrRestartRequired)
	}
	if len(a.Listeners) != len(b.Listeners) {
		return fmt.Errorf("listeners changed: %w", ErrRestartRequired)
	}
	for i := range a.Listeners {
		la, lb := a.Listeners[i], b.Listeners[i]
		if la.Address != lb.Address || la.H2C != lb.H2C || la.HTTP2 != lb.HTTP2 || (la.TLS == nil) != (lb.TLS == nil) {
			return fmt.Errorf("listeners[%d] (%s) changed: %w", i, la.Name, ErrRestartRequired)
		}
		if la.TLS != nil && *la.TLS != *lb.TLS {
			return fmt.Errorf("listeners[%d].tls changed: %w", i, ErrRestartRequired)
		}
	}
	return nil
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// Close stops the pools and flushes the access log. Call after the
// listeners have drained.
func (g *Gateway) Close() {
	g.cutStreams()
	if s := g.snap.Load(); s != nil {
		s.Pools.Close(nil)
	}
	if g.access != nil {
		g.access.Close()
	}
	g.closeLifetime()
}

// closeLifetime stops the gateway-lifetime stages in the reverse order of New.
func (g *Gateway) closeLifetime() {
	g.closeCache()
	g.closeSessions()
	g.closeAudit()
	g.closeKeys()
	g.tracer.shutdown()
}

// Ready reports whether the gateway has listeners up and a snapshot.
func (g *Gateway) Ready() bool { return g.ready.Load() && g.snap.Load() != nil }
