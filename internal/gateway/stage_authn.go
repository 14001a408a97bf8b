package gateway

import (
	"net/http"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/route"
)

// authnStage is the compiled bearer-token verification of one snapshot.
type authnStage struct{}

func compileAuthn(cfg *config.Config, prev *Snapshot, g *Gateway) (*authnStage, error) {
	return &authnStage{}, nil
}

// authenticate establishes who is calling route rt. It returns the
// identity (identity.Anonymous on public routes), or an error to render
// (401 with WWW-Authenticate for API callers), or handled=true when it has
// already answered (a browser sent to the login page).
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState) (id *identity.Identity, handled bool, err error) {
	return &identity.Anonymous, false, nil
}
