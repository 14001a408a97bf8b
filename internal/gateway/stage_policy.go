package gateway

import (
	"net/http"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/route"
)

// policyStage is the compiled policy (roles and route rules) of one snapshot.
type policyStage struct{}

func compilePolicy(cfg *config.Config, prev *Snapshot, g *Gateway) (*policyStage, error) {
	return &policyStage{}, nil
}

// authorize decides whether id may make request r on route rt. It returns
// nil to let the request in, or an error to render (403 with the reason).
func (g *Gateway) authorize(r *http.Request, snap *Snapshot, rt *route.Route, id *identity.Identity, st *reqState) error {
	return nil
}
