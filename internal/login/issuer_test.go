package login

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/edgegate/edgegate/internal/authn"
	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/session"
)

// issuerFor is an identity.issuers entry for the fake provider, as the
// configuration would compile it: keys from its JWKS, API audience "api"
// (never the login client: an ID token is for the client), generic claims.
func issuerFor(op *fakeOP) config.Issuer {
	return config.Issuer{
		Name: "corp", Issuer: op.srv.URL, JWKSURL: op.srv.URL + "/jwks", Audiences: []string{"api"},
		ClockSkew: config.DefaultClockSkew, MaxTokenLifetime: config.DefaultMaxTokenLifetime,
		Preset: config.PresetGeneric, OnUnreachable: config.DefaultOnUnreachable,
		UnknownKIDRefetchInterval: time.Second,
		Claims: config.ClaimMapping{Subject: "sub", Email: "email", Name: "name",
			Groups: []string{"groups"}, Roles: []string{"roles"}, Scopes: []string{"scope", "scp"}},
	}
}

// newIssuerEnv is an rpEnv whose Manager verifies ID tokens with an
// internal/authn issuer built from is (edit applies the case's rules).
func newIssuerEnv(t *testing.T, setup func(op *fakeOP), edit func(is *config.Issuer)) *rpEnv {
	t.Helper()
	op := newFakeOP(t)
	if setup != nil {
		setup(op)
	}
	p, err := DiscoverEndpoints(context.Background(), nil, op.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := &rpEnv{op: op, store: session.NewMemoryStore(100, nil), ring: session.NewEphemeralKeyRing(), now: time.Now()}
	e.m = NewManager(Config{
		Provider: p, Issuer: verifierFor(t, op, edit), IssuerName: "corp", ClientID: "client", ClientSecret: "secret",
		Scopes: []string{"openid", "email"}, CookieName: "__Host-eg", IdleTimeout: time.Hour, AbsoluteTimeout: 12 * time.Hour,
		RefreshBefore: time.Minute, Store: e.store, Sealer: &session.Sealer{Ring: e.ring},
	})
	e.m.now = e.clock
	return e
}

func verifierFor(t *testing.T, op *fakeOP, edit func(is *config.Issuer)) *authn.Verifier {
	t.Helper()
	is := issuerFor(op)
	if edit != nil {
		edit(&is)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	set, err := authn.NewSet(ctx, config.Identity{Issuers: []config.Issuer{is}}, authn.Options{Sources: authn.NewSources(ctx, nil, nil, authn.Hooks{})})
	if err != nil {
		t.Fatal(err)
	}
	return set.Verifier("corp")
}

// TestIssuerRulesApplyToLogin: with login.issuer naming an identity
// issuer, that issuer's algorithms, skew, lifetime cap, required claims,
// allowed domains, group-overage check and claim mapping decide the login,
// and its key source is the only one fetched.
func TestIssuerRulesApplyToLogin(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(op *fakeOP)
		edit   func(is *config.Issuer)
		want   Reason // "" = accepted
		detail string // in the public Detail
		check  func(t *testing.T, e *rpEnv, s *session.Session)
	}{
		{name: "ID token for the client, issuer audiences for APIs", check: func(t *testing.T, e *rpEnv, s *session.Session) {
			id, err := e.m.Identity(s)
			if err != nil || id.Subject != "alice" || id.IssuerName != "corp" || id.Method != "session" || id.ClientID != "client" || id.Service {
				t.Errorf("identity %+v (%v)", id, err)
			}
			if e.op.jwksHits != 1 {
				t.Errorf("the provider's keys were fetched %d times, want once (one key cache per issuer)", e.op.jwksHits)
			}
		}},
		{name: "required claim missing",
			edit: func(is *config.Issuer) { is.RequiredClaims = []config.RequiredClaim{{Name: "department"}} },
			want: ReasonMissingClaim, detail: "department"},
		{name: "required claim from userinfo",
			setup: func(op *fakeOP) { op.userinfo = func(c map[string]any) { c["department"] = "eng" } },
			edit: func(is *config.Issuer) {
				is.RequiredClaims = []config.RequiredClaim{{Name: "department", Values: []string{"eng"}}}
			}},
		{name: "required claim value refused",
			setup: func(op *fakeOP) { op.claims = func(c map[string]any) { c["department"] = "sales" } },
			edit: func(is *config.Issuer) {
				is.RequiredClaims = []config.RequiredClaim{{Name: "department", Values: []string{"eng"}}}
			},
			want: ReasonClaimMismatch, detail: "department"},
		{name: "google domain absent",
			edit: func(is *config.Issuer) { is.Preset, is.AllowedDomains = config.PresetGoogle, []string{"example.com"} },
			want: ReasonDomainNotAllowed},
		{name: "google other domain",
			setup: func(op *fakeOP) { op.claims = func(c map[string]any) { c["hd"] = "evil.example" } },
			edit:  func(is *config.Issuer) { is.Preset, is.AllowedDomains = config.PresetGoogle, []string{"example.com"} },
			want:  ReasonDomainNotAllowed},
		{name: "google allowed domain",
			setup: func(op *fakeOP) { op.claims = func(c map[string]any) { c["hd"] = "example.com" } },
			edit:  func(is *config.Issuer) { is.Preset, is.AllowedDomains = config.PresetGoogle, []string{"example.com"} }},
		{name: "entra group overage",
			setup: func(op *fakeOP) {
				op.claims = func(c map[string]any) { c["hasgroups"] = true }
				op.userinfo = func(c map[string]any) { delete(c, "groups") }
			},
			edit: func(is *config.Issuer) { is.Preset = config.PresetEntra },
			want: ReasonGroupOverage, detail: "groups assigned to the application"},
		{name: "algorithm not on the issuer's list",
			edit: func(is *config.Issuer) { is.Algorithms = []string{"ES256"} },
			want: ReasonAlgNotAllowed},
		{name: "lifetime over the issuer's cap",
			setup: func(op *fakeOP) {
				op.claims = func(c map[string]any) { c["exp"] = time.Now().Add(3 * time.Hour).Unix() }
			},
			want: ReasonLifetimeTooLong},
		{name: "iat ahead within the issuer's skew",
			setup: func(op *fakeOP) {
				op.claims = func(c map[string]any) { c["iat"] = time.Now().Add(3 * time.Minute).Unix() }
			},
			edit: func(is *config.Issuer) { is.ClockSkew = 5 * time.Minute }},
		{name: "iat ahead beyond the issuer's skew",
			setup: func(op *fakeOP) {
				op.claims = func(c map[string]any) { c["iat"] = time.Now().Add(3 * time.Minute).Unix() }
			},
			want: ReasonIssuedInFuture},
		{name: "nbf ahead", setup: func(op *fakeOP) {
			op.claims = func(c map[string]any) { c["nbf"] = time.Now().Add(10 * time.Minute).Unix() }
		}, want: ReasonNotYetValid},
		{name: "an access token is not an ID token", setup: func(op *fakeOP) {
			op.raw = signAt(op)
		}, want: ReasonMalformed},
		{name: "wrong nonce still refused", setup: func(op *fakeOP) {
			op.claims = func(c map[string]any) { c["nonce"] = "not-it" }
		}, want: ReasonNonceMismatch},
		{name: "claim mapping", setup: func(op *fakeOP) {
			op.claims = func(c map[string]any) {
				c["email"] = "alice@evil.example@example.com"
				c["org"] = map[string]any{"teams": []any{"blue", "red"}}
				c["scope"] = "openid orders:read"
			}
		}, edit: func(is *config.Issuer) { is.Claims.Groups = []string{"org.teams"} }, check: func(t *testing.T, e *rpEnv, s *session.Session) {
			id, err := e.m.Identity(s)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(id.Groups, ",") != "blue,red" {
				t.Errorf("groups %v, want the mapped org.teams", id.Groups)
			}
			if id.Email != "" {
				t.Errorf("an address with two @ became the email: %q", id.Email)
			}
			if strings.Join(id.Scopes, ",") != "openid,orders:read" {
				t.Errorf("scopes %v", id.Scopes)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newIssuerEnv(t, c.setup, c.edit)
			s, cookie, err := e.login(t)
			if c.want == "" {
				if err != nil || cookie == nil {
					t.Fatalf("refused: %v", err)
				}
				if c.check != nil {
					c.check(t, e, s)
				}
				return
			}
			if got := ReasonOf(err); got != c.want {
				t.Fatalf("reason %q (%v), want %q", got, err, c.want)
			}
			var le *Error
			if !asError(err, &le) || !strings.Contains(le.Detail, c.detail) {
				t.Errorf("detail %q lacks %q", le.Detail, c.detail)
			}
			if cookie != nil || e.store.Len() != 0 {
				t.Errorf("a session was made on a refused login")
			}
		})
	}
}

// asError is errors.As that leaves an empty *Error behind on a miss, so
// the caller can read Detail either way.
func asError(err error, le **Error) bool {
	if errors.As(err, le) {
		return true
	}
	*le = &Error{}
	return false
}

// signAt is an RFC 9068 access token (typ at+jwt) from the fake provider,
// with every ID token claim.
func signAt(op *fakeOP) string {
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), op.kid)
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: op.signer}, opts)
	now := time.Now()
	payload := `{"iss":"` + op.srv.URL + `","sub":"alice","aud":"client","exp":` + strconv.FormatInt(now.Add(5*time.Minute).Unix(), 10) + `,"iat":` + strconv.FormatInt(now.Unix(), 10) + `}`
	jws, _ := s.Sign([]byte(payload))
	out, _ := jws.CompactSerialize()
	return out
}

// TestStricterRulesEndSessions: the rules are read again on every request,
// so a reload that adds a required claim ends the sessions without it, and
// a refresh applies them to the fresh claims.
func TestStricterRulesEndSessions(t *testing.T) {
	e := newIssuerEnv(t, nil, nil)
	_, cookie, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.m.Resolve(context.Background(), e.request(cookie)); err != nil {
		t.Fatalf("session under the first rules: %v", err)
	}
	strict := NewManager(Config{
		Provider: e.m.c.Provider, Issuer: verifierFor(t, e.op, func(is *config.Issuer) {
			is.RequiredClaims = []config.RequiredClaim{{Name: "groups", Values: []string{"admins"}}}
		}), IssuerName: "corp", ClientID: "client", ClientSecret: "secret", CookieName: "__Host-eg",
		IdleTimeout: time.Hour, AbsoluteTimeout: 12 * time.Hour, RefreshBefore: time.Minute, Store: e.store, Sealer: e.m.c.Sealer,
	})
	if _, _, err := strict.Resolve(context.Background(), e.request(cookie)); ReasonOf(err) != ReasonClaimMismatch {
		t.Fatalf("session under stricter rules: %v, want claim_mismatch", err)
	}
	if e.store.Len() != 0 {
		t.Errorf("the refused session is still stored")
	}

	t.Run("refresh", func(t *testing.T) {
		e := newIssuerEnv(t, nil, func(is *config.Issuer) { is.RequiredClaims = []config.RequiredClaim{{Name: "groups"}} })
		_, cookie, err := e.login(t)
		if err != nil {
			t.Fatal(err)
		}
		// The user leaves every group; the next refresh sees it.
		e.op.mu.Lock()
		e.op.userinfo = func(c map[string]any) { delete(c, "groups") }
		e.op.claims = func(c map[string]any) { c["groups"] = []string{} }
		e.op.mu.Unlock()
		e.advance(4*time.Minute + 30*time.Second)
		if _, err := e.m.SessionFrom(context.Background(), e.request(cookie)); ReasonOf(err) != ReasonMissingClaim {
			t.Fatalf("refresh without the required claim: %v", err)
		}
		if _, err := e.m.SessionFrom(context.Background(), e.request(cookie)); ReasonOf(err) != ReasonSessionExpired {
			t.Fatalf("session after the refused refresh: %v", err)
		}
	})
}

// TestURLIssuerRules: a provider named by URL gets the generic rules:
// mapped scopes, Keycloak realm roles, no two-@ email, and no service
// identity for a person.
func TestURLIssuerRules(t *testing.T) {
	e := newRPEnvWith(t, func(op *fakeOP) {
		op.claims = func(c map[string]any) {
			c["email"] = "mallory@evil.example@example.com"
			c["realm_access"] = map[string]any{"roles": []any{"editor"}}
			c["scope"] = "openid email"
			c["azp"] = "client"
		}
	})
	s, _, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.m.Identity(s)
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "" || strings.Join(id.Roles, ",") != "editor" || strings.Join(id.Scopes, ",") != "openid,email" || id.Service || id.Issuer != e.op.srv.URL {
		t.Errorf("identity %+v", id)
	}
}

// TestCallbackBadInput: with a valid state, garbage and refusals from the
// browser or the provider are typed: bad_code for a code that cannot be
// or that the provider refuses, provider_denied with the sanitized code
// for error=..., and only the provider's own failures are provider_error
// or exchange_failed (the 502s).
func TestCallbackBadInput(t *testing.T) {
	cases := []struct {
		name, query string
		want        Reason
		detail      string
		noToken     bool // the token endpoint must not be asked
	}{
		{"unknown code", "code=" + codeUnknown, ReasonBadCode, "invalid_grant", false},
		{"binary code", "code=%ff%00", ReasonBadCode, "not one the provider issues", true},
		{"control character", "code=a%0Ab", ReasonBadCode, "", true},
		{"provider 500", "code=" + codeBoom, ReasonExchangeFailed, "", false},
		{"access denied", "error=access_denied&error_description=nope", ReasonProviderDenied, "the provider answered access_denied", true},
		{"login required", "error=login_required", ReasonProviderDenied, "login_required", true},
		{"garbage error", "error=%22%3E%00%ff" + strings.Repeat("x", 200), ReasonProviderDenied, "the provider answered ?>??", true},
		{"server error", "error=server_error", ReasonProviderError, "server_error", true},
		{"two codes", "code=a&code=b", ReasonMalformed, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newRPEnv(t)
			_, _, cookie, err := e.callback(t, func(state string) string { return c.query + "&state=" + url.QueryEscape(state) })
			if got := ReasonOf(err); got != c.want {
				t.Fatalf("reason %q (%v), want %q", got, err, c.want)
			}
			var le *Error
			asError(err, &le)
			if !strings.Contains(le.Detail, c.detail) {
				t.Errorf("detail %q lacks %q", le.Detail, c.detail)
			}
			if strings.ContainsAny(le.Detail, "\"\x00\n") || len(le.Detail) > 120 {
				t.Errorf("detail not sanitized: %q", le.Detail)
			}
			if c.noToken && e.op.tokenHits != 0 {
				t.Errorf("the token endpoint was asked %d times", e.op.tokenHits)
			}
			if cookie != nil {
				t.Errorf("a session cookie was set")
			}
		})
	}
}
