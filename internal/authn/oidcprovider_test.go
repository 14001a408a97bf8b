package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/testpeer"
)

// opPeer is the real npm oidc-provider (internal/testpeer) for one test.
type opPeer struct{ *testpeer.OIDCProvider }

// startOP starts the real OpenID provider. Missing node or
// e2e/node_modules is a failure, not a skip: scripts/test-all installs them.
func startOP(t *testing.T, args ...string) *opPeer {
	t.Helper()
	p, err := testpeer.StartOIDCProvider(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &opPeer{p}
}

// token gets an access token by the client_credentials grant.
func (p *opPeer) token(t *testing.T, scope string) string {
	t.Helper()
	tok, err := p.Token(scope)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// admin calls POST /rotate or /retire and returns the current kid.
func (p *opPeer) admin(t *testing.T, action string) string {
	t.Helper()
	kid, err := p.AdminAction(action)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.Kid
}

// TestOIDCProvider verifies real client-credentials tokens of the npm
// oidc-provider, found by discovery, through a key rotation.
func TestOIDCProvider(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			op := startOP(t, "--alg", alg)
			is := config.Issuer{
				Name: "op", Issuer: op.Issuer, DiscoveryURL: op.Issuer + "/.well-known/openid-configuration",
				Audiences: []string{"api://edgegate"}, ClockSkew: time.Minute, MaxTokenLifetime: time.Hour,
				Preset: config.PresetGeneric, OnUnreachable: config.OnUnreachableFailStart,
				UnknownKIDRefetchInterval: time.Second,
				Claims:                    config.ClaimMapping{Subject: "sub", Scopes: []string{"scope"}},
			}
			set := newSet(t, is)
			ctx := context.Background()
			old := op.token(t, "api:read")
			id, err := set.Verify(ctx, old, AllowAll)
			if err != nil {
				t.Fatalf("real token refused: %v", err)
			}
			if id.Subject != "svc" || id.ClientID != "svc" || !id.Service || len(id.Scopes) != 1 || id.Scopes[0] != "api:read" {
				t.Fatalf("identity %+v", id)
			}

			// Rotation: the provider signs with a new key, still publishing
			// the old one. The new kid triggers one refetch.
			newKid := op.admin(t, "rotate")
			fresh := op.token(t, "api:write")
			if kidOf(t, fresh) != newKid || newKid == op.Kid {
				t.Fatalf("the provider did not rotate: %s vs %s", kidOf(t, fresh), op.Kid)
			}
			fetches := set.Verifier("op").Fetches()
			if _, err := set.Verify(ctx, fresh, AllowAll); err != nil {
				t.Fatalf("token of the new key: %v", err)
			}
			if set.Verifier("op").Fetches() != fetches+1 {
				t.Fatalf("want exactly one refetch for the new kid, got %d", set.Verifier("op").Fetches()-fetches)
			}
			if _, err := set.Verify(ctx, old, AllowAll); err != nil {
				t.Fatalf("old token while its key is published: %v", err)
			}

			// Retirement: once a refresh shows the old key gone, its tokens
			// (cached ones included) are refused.
			op.admin(t, "retire")
			if err := set.Verifier("op").Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := set.Verify(ctx, old, AllowAll); ReasonOf(err) != ReasonUnknownKID {
				t.Fatalf("old token after its key left: %v", err)
			}
			if _, err := set.Verify(ctx, fresh, AllowAll); err != nil {
				t.Fatalf("new token after retirement: %v", err)
			}
		})
	}
}
