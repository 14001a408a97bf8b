package gateway

import (
	"net/http"
	"strings"

	"github.com/edgegate/edgegate/internal/httperr"
)

// The gateway owns two path prefixes on every host: its browser endpoints
// (login, callback, logout, whoami) and its published keys. They are
// answered before routing, so a route can neither shadow nor forward them,
// and a client can never reach an origin's copy of them.
const (
	internalPrefix  = "/.edgegate/"
	wellKnownPrefix = "/.well-known/edgegate/"
)

func isInternalPath(p string) bool {
	return strings.HasPrefix(p, internalPrefix) || strings.HasPrefix(p, wellKnownPrefix)
}

func (g *Gateway) serveInternal(w http.ResponseWriter, r *http.Request, snap *Snapshot, path string, st *reqState) error {
	st.route = "(edgegate)"
	var handled bool
	var err error
	if strings.HasPrefix(path, wellKnownPrefix) {
		handled, err = g.serveWellKnown(w, r, snap, path, st)
	} else {
		handled, err = g.serveLogin(w, r, snap, path, st)
	}
	if err != nil || handled {
		return err
	}
	return httperr.New(http.StatusNotFound, "edgegate.not_found", "no such gateway endpoint", nil)
}
