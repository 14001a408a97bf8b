package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/httperr"
)

// auditState is the gateway-lifetime audit trail. Its sinks are opened
// once, at start: a change to the audit section takes effect at the next
// start (the chain must not fork between two trails).
type auditState struct {
	trail *audit.Trail
}

func (g *Gateway) initAudit(cfg *config.Config) error {
	g.auditor = &auditState{}
	if !cfg.Audit.Enabled() {
		return nil
	}
	ac := cfg.Audit
	opts := audit.Options{
		SpoolDir:           ac.SpoolDir,
		SpoolMaxBytes:      ac.SpoolMaxBytes,
		Policy:             audit.Policy(ac.Policy),
		CheckpointEvery:    ac.CheckpointEvery,
		CheckpointInterval: ac.CheckpointInterval,
		Durability:         audit.Durability(ac.Durability),
		SyncInterval:       ac.SyncInterval,
		Logger:             g.log,
		Metrics:            &g.metrics.Audit,
	}
	if ring := g.KeyRing(); ring != nil {
		opts.Signer = ring
	}
	for _, s := range ac.Sinks {
		so := audit.SinkOptions{Name: s.Name, Type: s.Type, Path: s.Path, RotateBytes: s.RotateBytes,
			RotateEvery: s.RotateEvery, URL: s.URL, BatchSize: s.BatchSize, Timeout: s.Timeout}
		if len(s.Headers) > 0 {
			so.Header = http.Header{}
			for _, h := range s.Headers {
				so.Header.Set(h.Name, h.Value)
			}
		}
		opts.Sinks = append(opts.Sinks, so)
	}
	t, err := audit.Open(opts)
	if err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	g.auditor.trail = t
	return nil
}

func (g *Gateway) closeAudit() {
	if g.auditor == nil || g.auditor.trail == nil {
		return
	}
	if err := g.auditor.trail.Close(); err != nil {
		g.log.Error("audit trail: close", "err", err.Error())
	}
	g.auditor.trail = nil
}

// errAuditUnavailable is what a request on an audited route gets when its
// decision cannot be recorded under the fail_closed policy.
func errAuditUnavailable(cause error) *httperr.Error {
	he := httperr.New(http.StatusServiceUnavailable, "audit.unavailable",
		"the gateway cannot record this decision right now; try again later", cause)
	he.Header = http.Header{"Retry-After": {"5"}}
	return he
}

// record delivers one decision event to the audit trail and returns once it
// is durable. An error means the event could not be accepted and the
// request must be refused (fail closed): it is an *httperr.Error (503,
// code audit.unavailable) that wraps audit.ErrUnavailable, ready to return
// from a stage. With no audit sinks configured it does nothing.
func (g *Gateway) record(ctx context.Context, e audit.Event) error {
	if !g.auditing() {
		return nil
	}
	err := g.auditor.trail.Record(ctx, e)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, audit.ErrReservedKind):
		// A programming error in a stage, not a reason to refuse requests.
		g.log.Error("audit: event not recorded", "kind", string(e.Kind), "err", err.Error())
		return nil
	}
	return errAuditUnavailable(err)
}

// auditing reports whether decisions go to an audit trail, so a stage
// can skip building an event (a string for the client address, a copy
// of the roles) that nobody would read.
func (g *Gateway) auditing() bool { return g.auditor != nil && g.auditor.trail != nil }

// recordConfigActivation records that cfg went into service (at start or
// on reload), naming the hash it replaced. The lead's Apply calls it.
func (g *Gateway) recordConfigActivation(ctx context.Context, cfg *config.Config, previous string) error {
	d := map[string]string{"config_hash": cfg.Hash}
	if previous != "" {
		d["previous_hash"] = previous
	}
	if cfg.File != "" {
		d["file"] = cfg.File
	}
	return g.record(ctx, audit.Event{Kind: audit.KindConfigActivate, Decision: "allow", Reason: "config_valid", Detail: d})
}
