package gateway

import (
	"net/http"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/proxy"
	"github.com/edgegate/edgegate/internal/route"
)

// scriptStage is the compiled edge-script bundles of one snapshot.
type scriptStage struct{}

func compileScript(cfg *config.Config, prev *Snapshot, g *Gateway) (*scriptStage, error) {
	return &scriptStage{}, nil
}

// scriptState is one request's edge-script state (variables, cache-key
// changes, logs) carried in reqState.
type scriptState struct{}

// scriptClientRequest runs onClientRequest. handled is true when the
// script answered the request itself (respondWith).
func (g *Gateway) scriptClientRequest(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState) (handled bool, err error) {
	return false, nil
}

// originFetch produces the response of a cache miss into w: onOriginRequest,
// then responseProvider or the origin, then onOriginResponse.
func (g *Gateway) originFetch(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState, t *proxy.Target) error {
	res, err := g.fwd.Forward(w, r, t)
	st.fwd = res
	return err
}

// clientResponse runs onClientResponse on a response about to be sent (a
// cache hit or a miss), before its header is written.
func (g *Gateway) clientResponse(status int, h http.Header, snap *Snapshot, rt *route.Route, st *reqState) {
}

// registerScriptAdmin adds the script endpoints (the local EdgeKV API) to
// the admin listener.
func (g *Gateway) registerScriptAdmin(mux *http.ServeMux) {}
