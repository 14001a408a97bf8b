package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/edgegate/edgegate/internal/config"
)

// refreshLifetime is how long a dev refresh token lasts.
const refreshLifetime = 24 * time.Hour

var errNotFound = notFound("not found")

type notFound string

func (e notFound) Error() string { return string(e) }
func (notFound) IsNotFound()     {}

func newID() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// signingKey is one RSA key of the provider.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

// authRequest is one authorization request while the user picks.
type authRequest struct {
	id        string
	clientID  string
	redirect  string
	scopes    []string
	state     string
	nonce     string
	challenge *oidc.CodeChallenge
	respType  oidc.ResponseType
	respMode  oidc.ResponseMode
	subject   string
	authTime  time.Time
	done      bool
	code      string
	created   time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirect }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.respType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.respMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// refreshToken is a stored refresh grant.
type refreshToken struct {
	subject  string
	clientID string
	scopes   []string
	authTime time.Time
	expires  time.Time
}

type refreshRequest struct {
	r      *refreshToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return []string{"pwd"} }
func (r *refreshRequest) GetAudience() []string       { return []string{r.r.clientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.r.authTime }
func (r *refreshRequest) GetClientID() string         { return r.r.clientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.r.subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// tokenRequest is a client_credentials grant (or a minted dev token).
type tokenRequest struct {
	subject  string
	audience []string
	scopes   []string
}

func (t *tokenRequest) GetSubject() string    { return t.subject }
func (t *tokenRequest) GetAudience() []string { return t.audience }
func (t *tokenRequest) GetScopes() []string   { return t.scopes }

// client adapts a configured dev client.
type client struct {
	c        config.DevClient
	lifetime time.Duration
	loginURL func(string) string
}

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return postLogoutURIs(c.c.RedirectURIs) }
func (c *client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	g := []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	if c.c.Secret != "" {
		g = append(g, oidc.GrantTypeClientCredentials)
	}
	return g
}
func (c *client) LoginURL(id string) string           { return c.loginURL(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration      { return c.lifetime }
func (c *client) DevMode() bool                       { return true }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(string) bool           { return true }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// postLogoutURIs allows, after logout, any path on the hosts the client
// redirects to (the gateway's post_logout_redirect).
func postLogoutURIs(redirects []string) []string {
	var out []string
	for _, r := range redirects {
		out = append(out, r)
		if i := indexPath(r); i > 0 {
			out = append(out, r[:i]+"/", r[:i]+"/*")
		}
	}
	return out
}

func indexPath(u string) int {
	n := 0
	for i, c := range u {
		if c == '/' {
			n++
			if n == 3 {
				return i
			}
		}
	}
	return -1
}

// storage is the provider's in-memory state.
type storage struct {
	cfg *config.DevProvider
	now func() time.Time

	mu       sync.Mutex
	keys     []*signingKey // keys[0] signs; the others stay published
	requests map[string]*authRequest
	codes    map[string]string
	refresh  map[string]*refreshToken
	loginURL func(string) string
}

func newStorage(cfg *config.DevProvider) (*storage, error) {
	s := &storage{cfg: cfg, now: time.Now, requests: map[string]*authRequest{}, codes: map[string]string{}, refresh: map[string]*refreshToken{}}
	if _, err := s.rotate(); err != nil {
		return nil, err
	}
	return s, nil
}

// rotate makes a new signing key; the previous one stays in the JWKS.
func (s *storage) rotate() (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	sk := &signingKey{id: "dev-" + newID()[:12], key: k}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]*signingKey{sk}, s.keys...)
	if len(s.keys) > 2 {
		s.keys = s.keys[:2]
	}
	return sk.id, nil
}

func (s *storage) user(name string) (config.DevUser, bool) {
	for _, u := range s.cfg.Users {
		if u.Name == name {
			return u, true
		}
	}
	return config.DevUser{}, false
}

func (s *storage) client(id string) (*client, bool) {
	for _, c := range s.cfg.Clients {
		if c.ID == id {
			return &client{c: c, lifetime: s.cfg.TokenLifetime, loginURL: s.loginURL}, true
		}
	}
	return nil, false
}

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	a := &authRequest{
		id: newID(), clientID: r.ClientID, redirect: r.RedirectURI, scopes: r.Scopes, state: r.State,
		nonce: r.Nonce, respType: r.ResponseType, respMode: r.ResponseMode, created: s.now(),
	}
	if r.CodeChallenge != "" {
		a.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.requests {
		if s.now().Sub(old.created) > 30*time.Minute {
			delete(s.requests, id)
			delete(s.codes, old.code)
		}
	}
	s.requests[a.id] = a
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

// complete marks the request as authenticated by user.
func (s *storage) complete(id, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.requests[id]
	if !ok {
		return errNotFound
	}
	a.subject, a.done, a.authTime = user, true, s.now()
	return nil
}

func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[s.codes[code]]; ok && code != "" {
		return a, nil
	}
	return nil, errNotFound
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		a.code = code
		s.codes[code] = id
		return nil
	}
	return errNotFound
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		delete(s.codes, a.code)
	}
	delete(s.requests, id)
	return nil
}

func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return newID(), s.now().Add(s.cfg.TokenLifetime), nil
}

func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := &refreshToken{subject: req.GetSubject(), scopes: req.GetScopes(), authTime: s.now(), expires: s.now().Add(refreshLifetime)}
	switch r := req.(type) {
	case *authRequest:
		rt.clientID, rt.authTime = r.clientID, r.authTime
	case *refreshRequest:
		rt.clientID, rt.authTime = r.r.clientID, r.r.authTime
	}
	if current != "" {
		// Refresh tokens rotate: the used one is gone.
		if _, ok := s.refresh[current]; !ok {
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		delete(s.refresh, current)
	}
	id := newID()
	s.refresh[id] = rt
	return newID(), id, s.now().Add(s.cfg.TokenLifetime), nil
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok || !s.now().Before(rt.expires) {
		return nil, op.ErrInvalidRefreshToken
	}
	return &refreshRequest{r: rt, scopes: rt.scopes}, nil
}

func (s *storage) TerminateSession(_ context.Context, user, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, rt := range s.refresh {
		if rt.subject == user && rt.clientID == clientID {
			delete(s.refresh, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, token, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt, ok := s.refresh[token]; ok && rt.clientID == clientID {
		delete(s.refresh, token)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt, ok := s.refresh[token]; ok && rt.clientID == clientID {
		return rt.subject, token, nil
	}
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0], nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if c, ok := s.client(id); ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.client(id)
	if !ok || c.c.Secret == "" || c.c.Secret != secret {
		return errors.New("invalid client credentials")
	}
	return nil
}

func (s *storage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	if err := s.AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, err
	}
	c, _ := s.client(id)
	return c, nil
}

func (s *storage) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	return &tokenRequest{subject: id, audience: []string{id}, scopes: scopes}, nil
}

func (s *storage) setUserinfo(ui *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.user(subject)
	if !ok {
		if _, isClient := s.client(subject); isClient {
			ui.Subject = subject
			return nil
		}
		return errNotFound
	}
	ui.Subject = u.Name
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeEmail:
			if u.Email != "" {
				ui.Email, ui.EmailVerified = u.Email, true
			}
		case oidc.ScopeProfile:
			ui.Name, ui.PreferredUsername = u.Name, u.Name
		}
	}
	if len(u.Groups) > 0 {
		ui.AppendClaims("groups", slices.Clone(u.Groups))
	}
	if len(u.Roles) > 0 {
		ui.AppendClaims("roles", slices.Clone(u.Roles))
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(_ context.Context, ui *oidc.UserInfo, user, _ string, scopes []string) error {
	return s.setUserinfo(ui, user, scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, _, subject, _ string) error {
	return s.setUserinfo(ui, subject, []string{oidc.ScopeEmail, oidc.ScopeProfile})
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, in *oidc.IntrospectionResponse, _, subject, clientID string) error {
	in.Active = true
	in.Subject = subject
	in.ClientID = clientID
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(_ context.Context, user, _ string, _ []string) (map[string]any, error) {
	u, ok := s.user(user)
	if !ok {
		return nil, nil
	}
	m := map[string]any{}
	if u.Email != "" {
		m["email"] = u.Email
	}
	if len(u.Groups) > 0 {
		m["groups"] = u.Groups
	}
	if len(u.Roles) > 0 {
		m["roles"] = u.Roles
	}
	return m, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("jwt profile grant is not supported by the dev provider")
}

func (s *storage) Health(context.Context) error { return nil }

var _ op.Storage = (*storage)(nil)
var _ op.ClientCredentialsStorage = (*storage)(nil)
