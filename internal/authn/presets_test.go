package authn

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/edgegate/edgegate/internal/config"
)

// mapping returns the preset's mapping as the config validator builds it.
func mapping(t *testing.T, preset config.Preset, aud string) config.ClaimMapping {
	t.Helper()
	src := "version: 1\nlisteners: [{address: \"127.0.0.1:0\"}]\npools: [{name: app, members: [http://127.0.0.1:9]}]\n" +
		"routes: [{name: r, pool: app}]\nidentity:\n  issuers:\n    - {name: i, issuer: https://idp.example, jwks_url: https://idp.example/jwks, audiences: [" + aud + "], preset: " + string(preset) + "}\n"
	cfg, err := config.LoadBytes("", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Identity.Issuers[0].Claims
}

func TestPresets(t *testing.T) {
	testKeys(t)
	k := rsaTestKey(0, "k1")
	p := newTestIdP(t, k)
	type want struct {
		Subject, Email string
		Groups, Roles  []string
		Scopes         []string
		Service        bool
		ClientID       string
	}
	cases := []struct {
		name    string
		preset  config.Preset
		domains []string
		claims  map[string]any
		want    want
		reason  Reason
	}{
		{name: "entra user", preset: config.PresetEntra, claims: map[string]any{
			"sub": "u1", "oid": "o1", "roles": []string{"Admin"}, "groups": []string{"g1"}, "scp": "User.Read api.all", "azp": "c1", "email": "u@example.com"},
			want: want{Subject: "u1", Email: "u@example.com", Groups: []string{"g1"}, Roles: []string{"Admin"}, Scopes: []string{"User.Read", "api.all"}, ClientID: "c1"}},
		{name: "entra app-only", preset: config.PresetEntra, claims: map[string]any{"sub": "o2", "oid": "o2", "roles": []string{"Jobs.Run"}, "azp": "c2"},
			want: want{Subject: "o2", Roles: []string{"Jobs.Run"}, Service: true, ClientID: "c2"}},
		{name: "entra overage", preset: config.PresetEntra, claims: map[string]any{"sub": "u1",
			"_claim_names": map[string]any{"groups": "src1"}, "_claim_sources": map[string]any{"src1": map[string]any{"endpoint": "https://graph"}}},
			reason: ReasonGroupOverage},
		{name: "entra hasgroups", preset: config.PresetEntra, claims: map[string]any{"sub": "u1", "hasgroups": true}, reason: ReasonGroupOverage},
		{name: "okta client credentials", preset: config.PresetOkta, claims: map[string]any{"sub": "0oa1", "cid": "0oa1", "scp": []string{"svc.read"}},
			want: want{Subject: "0oa1", Scopes: []string{"svc.read"}, Service: true, ClientID: "0oa1"}},
		{name: "okta user", preset: config.PresetOkta, claims: map[string]any{"sub": "a@example.com", "cid": "0oa1", "uid": "00u1", "groups": []string{"Everyone"}, "scp": []string{"openid"}},
			want: want{Subject: "a@example.com", Groups: []string{"Everyone"}, Scopes: []string{"openid"}, ClientID: "0oa1"}},
		{name: "google allowed domain", preset: config.PresetGoogle, domains: []string{"example.com"}, claims: map[string]any{"sub": "1", "hd": "Example.com", "email": "a@example.com", "email_verified": true},
			want: want{Subject: "1", Email: "a@example.com"}},
		{name: "google other domain", preset: config.PresetGoogle, domains: []string{"example.com"}, claims: map[string]any{"sub": "1", "hd": "evil.com"}, reason: ReasonDomainNotAllowed},
		{name: "google consumer account", preset: config.PresetGoogle, domains: []string{"example.com"}, claims: map[string]any{"sub": "1"}, reason: ReasonDomainNotAllowed},
		{name: "google service account", preset: config.PresetGoogle, claims: map[string]any{"sub": "2", "email": "ci@proj.iam.gserviceaccount.com"},
			want: want{Subject: "2", Email: "ci@proj.iam.gserviceaccount.com", Service: true}},
		{name: "keycloak roles", preset: config.PresetKeycloak, claims: map[string]any{"sub": "u", "preferred_username": "alice",
			"realm_access": map[string]any{"roles": []string{"user"}}, "resource_access": map[string]any{"api": map[string]any{"roles": []string{"writer"}}, "other": map[string]any{"roles": []string{"x"}}}},
			want: want{Subject: "u", Roles: []string{"user", "writer"}}},
		{name: "keycloak service account", preset: config.PresetKeycloak, claims: map[string]any{"sub": "s", "preferred_username": "service-account-ci", "azp": "ci"},
			want: want{Subject: "s", Service: true, ClientID: "ci"}},
		{name: "generic client credentials", preset: config.PresetGeneric, claims: map[string]any{"sub": "svc", "client_id": "svc", "scope": "a b"},
			want: want{Subject: "svc", Scopes: []string{"a", "b"}, Service: true, ClientID: "svc"}},
		{name: "generic unverified and multi-@ email dropped", preset: config.PresetGeneric, claims: map[string]any{"sub": "u", "email": "a@evil.com@good.com"},
			want: want{Subject: "u"}},
		{name: "generic email_verified false", preset: config.PresetGeneric, claims: map[string]any{"sub": "u", "email": "a@good.com", "email_verified": false},
			want: want{Subject: "u"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aud := "api"
			set := newSet(t, issuerCfg(p, func(is *config.Issuer) {
				is.Preset, is.AllowedDomains, is.Audiences = tc.preset, tc.domains, []string{aud}
				is.Claims = mapping(t, tc.preset, aud)
			}))
			c := claims(p)
			delete(c, "email")
			delete(c, "groups")
			delete(c, "scope")
			c["aud"] = aud
			for k, v := range tc.claims {
				c[k] = v
			}
			id, err := set.Verify(context.Background(), sign(t, k, jwt.MapClaims(c)), AllowAll)
			if got := reasonOf(t, err); got != tc.reason {
				t.Fatalf("reason %q, want %q (%v)", got, tc.reason, err)
			}
			if tc.reason == ReasonGroupOverage && !strings.Contains(err.(*Error).Description(), "ApplicationGroup") {
				t.Errorf("overage error does not name the fix: %s", err.(*Error).Description())
			}
			if err != nil {
				return
			}
			got := want{Subject: id.Subject, Email: id.Email, Groups: id.Groups, Roles: id.Roles, Scopes: id.Scopes, Service: id.Service, ClientID: id.ClientID}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("identity (-want +got):\n%s", d)
			}
			if id.Fingerprint == "" || id.IssuerName != "idp" || id.Expiry.IsZero() || id.Claims["sub"] == nil {
				t.Fatalf("identity incomplete: %+v", id)
			}
		})
	}
}

func TestRequiredClaims(t *testing.T) {
	testKeys(t)
	k := rsaTestKey(0, "k1")
	p := newTestIdP(t, k)
	set := newSet(t, issuerCfg(p, func(is *config.Issuer) {
		is.RequiredClaims = []config.RequiredClaim{{Name: "tid"}, {Name: "realm_access.roles", Values: []string{"api-user"}}}
	}))
	mk := func(extra map[string]any) string {
		c := claims(p)
		for n, v := range extra {
			c[n] = v
		}
		return sign(t, k, c)
	}
	for name, tc := range map[string]struct {
		tok  string
		want Reason
	}{
		"all there":     {mk(map[string]any{"tid": "t", "realm_access": map[string]any{"roles": []string{"x", "api-user"}}}), ""},
		"missing":       {mk(map[string]any{"realm_access": map[string]any{"roles": []string{"api-user"}}}), ReasonMissingClaim},
		"empty":         {mk(map[string]any{"tid": "", "realm_access": map[string]any{"roles": []string{"api-user"}}}), ReasonMissingClaim},
		"wrong value":   {mk(map[string]any{"tid": "t", "realm_access": map[string]any{"roles": []string{"x"}}}), ReasonClaimMismatch},
		"nested absent": {mk(map[string]any{"tid": "t"}), ReasonMissingClaim},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := set.Verify(context.Background(), tc.tok, AllowAll)
			if got := reasonOf(t, err); got != tc.want {
				t.Fatalf("reason %q, want %q (%v)", got, tc.want, err)
			}
		})
	}
}
