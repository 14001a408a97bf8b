package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// checkUserAgent names our checks in origin access logs.
const checkUserAgent = "edgegate-health-check"

// maxCheckBody is how much of a check response is read so the connection
// can be reused; a larger body costs a new connection, not memory.
const maxCheckBody = 64 << 10

// runChecks checks m once at start and then every interval until ctx ends.
func (m *Member) runChecks(ctx context.Context) {
	defer m.pool.wg.Done()
	hc := m.pool.health
	t := time.NewTicker(hc.Interval)
	defer t.Stop()
	for {
		ok, reason := m.checkOnce(ctx)
		if ctx.Err() != nil {
			return // a check cut short by Close says nothing about the member
		}
		m.recordCheck(ok, reason)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkOnce sends one GET to the member's check path.
func (m *Member) checkOnce(ctx context.Context) (bool, string) {
	hc := m.pool.health
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.label+hc.Path, nil)
	if err != nil {
		return false, err.Error()
	}
	if hc.Host != "" {
		req.Host = hc.Host
	}
	req.Header.Set("User-Agent", checkUserAgent)
	resp, err := m.pool.checks.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxCheckBody)
	resp.Body.Close()
	if hc.ExpectStatus != 0 {
		if resp.StatusCode != hc.ExpectStatus {
			return false, fmt.Sprintf("status %d, want %d", resp.StatusCode, hc.ExpectStatus)
		}
		return true, ""
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, fmt.Sprintf("status %d, want 2xx", resp.StatusCode)
	}
	return true, ""
}

// recordCheck applies the thresholds: a member changes state only after
// that many consecutive results pointing the other way.
func (m *Member) recordCheck(ok bool, reason string) {
	hc := m.pool.health
	if ok {
		m.failRun = 0
		m.okRun++
		if !m.up.Load() && m.okRun >= max(hc.HealthyThreshold, 1) {
			m.up.Store(true)
			m.publishHealth()
			m.pool.log.Info("origin member healthy", "member", m.label, "checks_passed", m.okRun)
		}
		return
	}
	m.okRun = 0
	m.failRun++
	if m.up.Load() && m.failRun >= max(hc.UnhealthyThreshold, 1) {
		m.up.Store(false)
		m.publishHealth()
		m.pool.log.Warn("origin member unhealthy", "member", m.label, "checks_failed", m.failRun, "reason", reason)
	} else if !m.up.Load() {
		m.pool.log.Debug("origin member still unhealthy", "member", m.label, "reason", reason)
	}
}
