package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/edgegate/edgegate/internal/audit"
	"github.com/edgegate/edgegate/internal/httperr"
)

// adminHandler serves the private operations endpoints. The admin listener
// binds loopback by default; nothing here is meant for the internet.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !g.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", g.metrics.Handler())
	g.registerCacheAdmin(mux)
	g.registerScriptAdmin(mux)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		snap := g.snap.Load()
		type poolStatus struct {
			Name     string `json:"name"`
			InFlight int64  `json:"in_flight"`
			Status   any    `json:"status"`
		}
		out := struct {
			ConfigHash string       `json:"config_hash"`
			ConfigFile string       `json:"config_file"`
			Loaded     time.Time    `json:"loaded"`
			Routes     int          `json:"routes"`
			Pools      []poolStatus `json:"pools"`
		}{ConfigHash: snap.Config.Hash, ConfigFile: snap.Config.File, Loaded: snap.Loaded, Routes: len(snap.Config.Routes)}
		for _, pc := range snap.Config.Pools {
			if p := snap.Pools.Pool(pc.Name); p != nil {
				out.Pools = append(out.Pools, poolStatus{Name: pc.Name, InFlight: p.InFlight(), Status: p.Snapshot()})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
	return g.auditUnknownAdmin(mux)
}

// auditUnknownAdmin records, as refused admin actions, requests that would
// change something (any method but GET and HEAD) at a path or method the
// admin listener does not serve: probes for endpoints that do not exist
// are evidence too. Served actions (purge, script activation) record
// themselves.
func (g *Gateway) auditUnknownAdmin(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && g.auditing() {
			if _, pattern := mux.Handler(r); pattern == "" {
				ev := adminEvent(r, "unknown")
				ev.Decision, ev.Reason = "deny", "unknown_action"
				_ = g.record(r.Context(), ev) // refused either way
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// adminEvent starts the audit event of an admin request: the action
// (as the rule), the request line and the client address. The admin
// listener has no caller identity beyond that.
func adminEvent(r *http.Request, action string) audit.Event {
	return audit.Event{Time: time.Now(), Kind: audit.KindAdmin, Method: r.Method, Path: r.URL.Path,
		ClientIP: clientHost(r.RemoteAddr), Rule: action}
}

// adminAuditError answers an admin request whose decision could not be
// recorded (audit.policy fail_closed): 503 with Retry-After, and nothing
// was changed.
func adminAuditError(w http.ResponseWriter, err error) {
	he := httperr.As(err)
	for k, vv := range he.Header {
		w.Header()[k] = vv
	}
	http.Error(w, he.Public, he.Status)
}
