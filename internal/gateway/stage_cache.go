package gateway

import (
	"net/http"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/proxy"
	"github.com/edgegate/edgegate/internal/route"
)

// cacheState is the gateway-lifetime cache storage (it survives reloads).
type cacheState struct{}

func (g *Gateway) initCache(cfg *config.Config) error { return nil }

func (g *Gateway) closeCache() {}

// cacheStage is the compiled cache policy of one snapshot.
type cacheStage struct{}

func compileCache(cfg *config.Config, prev *Snapshot, g *Gateway) (*cacheStage, error) {
	return &cacheStage{}, nil
}

// fetch answers from the cache or, on a miss, from g.originFetch, storing
// what may be stored. Every response it delivers, hit or miss, passes
// through g.clientResponse before its header is written.
func (g *Gateway) fetch(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState, t *proxy.Target) error {
	edit := t.EditResponse
	t.EditResponse = func(status int, h http.Header) {
		if edit != nil {
			edit(status, h)
		}
		g.clientResponse(status, h, snap, rt, st)
	}
	return g.originFetch(w, r, snap, rt, st, t)
}

// registerCacheAdmin adds the purge API to the admin listener.
func (g *Gateway) registerCacheAdmin(mux *http.ServeMux) {}
