// Package originproxy is the origin sidecar (`edgegate origin`): a small
// reverse proxy that runs beside an application that cannot verify
// identity assertions itself. It verifies the gateway's assertion on every
// request (pkg/verifier), forwards only verified requests to the
// application on localhost, and hands the identity over in plain headers
// that it sets itself after removing every copy the client sent. Refused
// requests get 401 and a log line with the request ID and the reason,
// never the assertion.
package originproxy

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/edgegate/edgegate/pkg/verifier"
)

// The headers the sidecar sets for the application. Any header starting
// with X-Edgegate- that the client sent is removed first.
const (
	HeaderUser    = "X-Edgegate-User"
	HeaderEmail   = "X-Edgegate-Email"
	HeaderGroups  = "X-Edgegate-Groups"
	HeaderRoles   = "X-Edgegate-Roles"
	HeaderMethod  = "X-Edgegate-Auth"
	HeaderService = "X-Edgegate-Service"
)

// Options configures New.
type Options struct {
	// Verifier checks the assertions. Required.
	Verifier *verifier.Verifier
	// Upstream is the application, such as http://127.0.0.1:3000. Required.
	Upstream *url.URL
	// AssertionHeader is where the assertion is (verifier.DefaultHeader
	// when empty). It is removed before forwarding unless KeepAssertion.
	AssertionHeader string
	// KeepAssertion forwards the assertion header too, for applications
	// that want to verify it again.
	KeepAssertion bool
	// Transport talks to the application (http.DefaultTransport's settings
	// when nil).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// New returns the sidecar handler.
func New(opts Options) (http.Handler, error) {
	if opts.Verifier == nil || opts.Upstream == nil {
		return nil, errors.New("originproxy: Verifier and Upstream are required")
	}
	if opts.Upstream.Scheme != "http" && opts.Upstream.Scheme != "https" || opts.Upstream.Host == "" {
		return nil, errors.New("originproxy: upstream must be an http(s) URL with a host")
	}
	if opts.AssertionHeader == "" {
		opts.AssertionHeader = verifier.DefaultHeader
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	up := opts.Upstream
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host
			id, _ := verifier.FromContext(pr.In.Context())
			setIdentity(pr.Out.Header, id)
			if !opts.KeepAssertion {
				pr.Out.Header.Del(opts.AssertionHeader)
			}
			// Keep the forwarding headers the gateway set (Rewrite drops
			// them by default); the sidecar is the gateway's next hop.
			for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v := pr.In.Header.Values(h); len(v) > 0 {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport: opts.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Error("application unreachable", "request_id", r.Header.Get("X-Request-Id"), "err", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	vopts := opts.Verifier
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := vopts.FromRequest(r)
		if err != nil {
			log.LogAttrs(r.Context(), slog.LevelWarn, "request refused",
				slog.String("request_id", r.Header.Get("X-Request-Id")), slog.String("reason", verifier.Reason(err)),
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
			verifier.Unauthorized(w, err)
			return
		}
		rp.ServeHTTP(w, r.WithContext(verifier.NewContext(r.Context(), id)))
	})
	return h, nil
}

// setIdentity removes every client-sent X-Edgegate-* header, in any
// spelling, and sets the sidecar's own from the verified identity.
func setIdentity(h http.Header, id *verifier.Identity) {
	for k := range h {
		if len(k) >= 11 && strings.EqualFold(k[:11], "x-edgegate-") || strings.ContainsAny(k, "_.") && strings.HasPrefix(strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(k)), "x-edgegate-") {
			delete(h, k)
		}
	}
	if id == nil {
		return
	}
	set := func(name, v string) {
		if v != "" && httpguts.ValidHeaderFieldValue(v) {
			h[name] = []string{v}
		}
	}
	set(HeaderUser, id.Subject)
	set(HeaderEmail, id.Email)
	set(HeaderGroups, strings.Join(id.Groups, ","))
	set(HeaderRoles, strings.Join(id.Roles, ","))
	set(HeaderMethod, id.Method)
	set(HeaderService, id.Service)
}
