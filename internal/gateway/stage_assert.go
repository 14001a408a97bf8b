package gateway

import (
	"net/http"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/route"
)

// keysState is the gateway-lifetime key ring (keys rotate on their own
// schedule, across reloads).
type keysState struct{}

func (g *Gateway) initKeys(cfg *config.Config) error { return nil }

func (g *Gateway) closeKeys() {}

// assertStage is the compiled assertion configuration of one snapshot.
type assertStage struct{}

func compileAssert(cfg *config.Config, prev *Snapshot, g *Gateway) (*assertStage, error) {
	return &assertStage{}, nil
}

// assertIdentity adds the signed identity assertion (and, if configured,
// plain identity headers) to the outbound header h.
func (g *Gateway) assertIdentity(h http.Header, snap *Snapshot, rt *route.Route, id *identity.Identity, st *reqState) {
}

// serveWellKnown answers /.well-known/edgegate/* (the JWKS origins verify
// assertions with). handled is false for paths it does not own.
func (g *Gateway) serveWellKnown(w http.ResponseWriter, r *http.Request, snap *Snapshot, path string, st *reqState) (handled bool, err error) {
	return false, nil
}
