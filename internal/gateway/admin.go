package gateway

import (
	"encoding/json"
	"net/http"
	"time"
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
	return mux
}
