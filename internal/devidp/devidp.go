// Package devidp is the embedded OpenID provider of `edgegate dev`: a
// development-only provider with configured users and a user picker
// instead of real authentication. It is built on zitadel/oidc's op package
// (discovery, JWKS, authorization code with PKCE, refresh tokens,
// client_credentials, userinfo, end_session); this package only supplies
// in-memory storage, the picker page and a token minting endpoint for
// `edgegate token`.
//
// It refuses non-loopback addresses unless forced and says
// "development only" on every page it renders.
package devidp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/edgegate/edgegate/internal/config"
)

// MintPath is the dev-only endpoint `edgegate token` calls.
const MintPath = "/edgegate-dev/token"

// MaxMintTTL bounds minted tokens: they are for trying an API, not for use.
const MaxMintTTL = time.Hour

// ErrNotLoopback is returned for a non-loopback address without force.
var ErrNotLoopback = errors.New("the dev provider only listens on loopback (set force: true to override; never in production)")

// Provider is a running-ready dev OpenID provider.
type Provider struct {
	cfg     *config.DevProvider
	st      *storage
	op      *op.Provider
	handler http.Handler
	log     *slog.Logger
}

// New builds the provider for cfg. log may be nil.
func New(cfg *config.DevProvider, log *slog.Logger) (*Provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckAddress(cfg.Address, cfg.Force); err != nil {
		return nil, err
	}
	st, err := newStorage(cfg)
	if err != nil {
		return nil, err
	}
	var key [32]byte
	_, _ = rand.Read(key[:])
	opts := []op.Option{op.WithLogger(log)}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewOpenIDProvider(cfg.Issuer, &op.Config{
		CryptoKey:                key,
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          []string{"openid", "profile", "email", "offline_access"},
	}, st, opts...)
	if err != nil {
		return nil, fmt.Errorf("dev provider: %w", err)
	}
	p := &Provider{cfg: cfg, st: st, op: o, log: log}
	st.loginURL = func(id string) string { return "/login?authRequestID=" + id }
	mux := http.NewServeMux()
	mux.HandleFunc("/login", p.serveLogin)
	mux.HandleFunc("/logged-out", func(w http.ResponseWriter, r *http.Request) {
		page(w, http.StatusOK, "Signed out", template.HTML("<p id=logged-out>You are signed out of the dev provider.</p>"))
	})
	mux.HandleFunc(MintPath, p.serveMint)
	mux.Handle("/", o)
	p.handler = mux
	return p, nil
}

// CheckAddress refuses non-loopback addresses unless force.
func CheckAddress(addr string, force bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dev provider address %q: %w", addr, err)
	}
	if force || host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("dev provider address %q: %w", addr, ErrNotLoopback)
}

// Handler serves the provider.
func (p *Provider) Handler() http.Handler { return p.handler }

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// RotateKey makes a new signing key; the previous one stays published so
// tokens it signed still verify. It returns the new key ID.
func (p *Provider) RotateKey() (string, error) { return p.st.rotate() }

// Serve serves on ln until ctx ends.
func (p *Provider) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: p.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html><html><head><meta charset=utf-8><title>{{.Title}} · edgegate dev provider</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto}.dev{background:#fde68a;padding:.5em 1em;border:2px solid #b45309}</style></head>
<body><p class=dev id=dev-only><strong>DEVELOPMENT ONLY.</strong> This is edgegate's embedded OpenID provider: it has no real authentication. Never expose it or use it in production.</p>
<h1>{{.Title}}</h1>{{.Body}}</body></html>
`))

func page(w http.ResponseWriter, status int, title string, body template.HTML) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct {
		Title string
		Body  template.HTML
	}{title, body})
}

var pickerTmpl = template.Must(template.New("picker").Parse(`<p>Sign in to <strong>{{.Client}}</strong> as:</p>
<form method=post action="/login"><input type=hidden name=authRequestID value="{{.ID}}">
{{range .Users}}<p><label><input type=radio name=user value="{{.Name}}" id="user-{{.Name}}"> {{.Name}}{{if .Email}} &lt;{{.Email}}&gt;{{end}}{{if .Groups}} · groups: {{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{end}}{{end}}</label></p>{{end}}
{{if .NeedPassword}}<p><label>Password (only for users that have one) <input type=password name=password id=password></label></p>{{end}}
<p><button type=submit id=sign-in>Sign in</button></p></form>`))

func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		id := r.URL.Query().Get("authRequestID")
		a, err := p.st.AuthRequestByID(r.Context(), id)
		if err != nil {
			page(w, http.StatusBadRequest, "Unknown sign-in request", "<p>Start again from the application.</p>")
			return
		}
		need := false
		for _, u := range p.cfg.Users {
			need = need || u.Password != ""
		}
		var b strings.Builder
		_ = pickerTmpl.Execute(&b, map[string]any{"Client": a.GetClientID(), "ID": id, "Users": p.cfg.Users, "NeedPassword": need})
		page(w, http.StatusOK, "Pick a dev user", template.HTML(b.String()))
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			page(w, http.StatusBadRequest, "Bad form", "")
			return
		}
		id, name := r.PostForm.Get("authRequestID"), r.PostForm.Get("user")
		u, ok := p.st.user(name)
		if !ok || (u.Password != "" && u.Password != r.PostForm.Get("password")) {
			page(w, http.StatusUnauthorized, "Sign-in refused", "<p>Unknown user or wrong password. Go back and try again.</p>")
			return
		}
		if err := p.st.complete(id, u.Name); err != nil {
			page(w, http.StatusBadRequest, "Unknown sign-in request", "<p>Start again from the application.</p>")
			return
		}
		ctx := op.ContextWithIssuer(r.Context(), p.cfg.Issuer)
		http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, id), http.StatusFound)
	default:
		w.Header().Set("Allow", "GET, POST")
		page(w, http.StatusMethodNotAllowed, "Method not allowed", "")
	}
}

// MintRequest asks for a dev token.
type MintRequest struct {
	User     string `json:"user"`
	Audience string `json:"aud"`
	TTL      string `json:"ttl"`
}

// Mint signs a short-lived access token (a JWT) for a dev user with the
// provider's current key.
func (p *Provider) Mint(user, aud string, ttl time.Duration) (string, error) {
	u, ok := p.st.user(user)
	if !ok {
		return "", fmt.Errorf("unknown dev user %q", user)
	}
	if ttl <= 0 || ttl > MaxMintTTL {
		return "", fmt.Errorf("ttl %s must be between 0 and %s", ttl, MaxMintTTL)
	}
	if aud == "" && len(p.cfg.Clients) > 0 {
		aud = p.cfg.Clients[0].ID
	}
	k, _ := p.st.SigningKey(context.Background())
	sk := k.(*signingKey)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: sk.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), sk.id))
	if err != nil {
		return "", err
	}
	now := p.st.now()
	claims := map[string]any{
		"iss": p.cfg.Issuer, "sub": u.Name, "aud": aud, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(ttl).Unix(), "jti": newID(), "client_id": aud, "scope": "openid email profile",
	}
	if u.Email != "" {
		claims["email"], claims["email_verified"] = u.Email, true
	}
	if len(u.Groups) > 0 {
		claims["groups"] = u.Groups
	}
	if len(u.Roles) > 0 {
		claims["roles"] = u.Roles
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// serveMint answers `edgegate token`, only to loopback peers.
func (p *Provider) serveMint(w http.ResponseWriter, r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !ap.Addr().IsLoopback() {
		http.Error(w, "minting is only offered to loopback clients", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	var req MintRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	ttl := 5 * time.Minute
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil {
			http.Error(w, "bad ttl", http.StatusBadRequest)
			return
		}
	}
	tok, err := p.Mint(req.User, req.Audience, ttl)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "Bearer"})
}
