package gateway

import (
	"net/http"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/route"
)

// sessionState is the gateway-lifetime session store and login machinery
// (sessions survive reloads).
type sessionState struct{}

func (g *Gateway) initSessions(cfg *config.Config) error { return nil }

func (g *Gateway) closeSessions() {}

// sessionStage is the compiled login configuration of one snapshot.
type sessionStage struct{}

func compileSession(cfg *config.Config, prev *Snapshot, g *Gateway) (*sessionStage, error) {
	return &sessionStage{}, nil
}

// sessionIdentity returns the identity of the browser session on r, or
// nil when there is none. handled is true when it has answered the request
// itself (a redirect to the login flow).
func (g *Gateway) sessionIdentity(w http.ResponseWriter, r *http.Request, snap *Snapshot, rt *route.Route, st *reqState) (id *identity.Identity, handled bool, err error) {
	return nil, false, nil
}

// serveLogin answers the gateway's own browser endpoints under /.edgegate/
// (login, callback, logout, whoami). handled is false for paths it does
// not own.
func (g *Gateway) serveLogin(w http.ResponseWriter, r *http.Request, snap *Snapshot, path string, st *reqState) (handled bool, err error) {
	return false, nil
}
