package authn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
)

// opPeer is e2e/oidc-provider.mjs (the npm oidc-provider) running on
// loopback for one test.
type opPeer struct {
	Issuer string `json:"issuer"`
	Admin  string `json:"admin"`
	Kid    string `json:"kid"`
}

// startOP starts the real OpenID provider. Missing node or
// e2e/node_modules is a failure, not a skip: scripts/test-all installs them.
func startOP(t *testing.T, args ...string) *opPeer {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not on PATH; run scripts/test-all (it installs nodejs and npm ci --prefix e2e)")
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "oidc-provider")); err != nil {
		t.Fatal("e2e/node_modules/oidc-provider is missing; run scripts/test-all (npm ci --prefix e2e)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(root, "e2e", "oidc-provider.mjs")}, args...)...)
	var stderr bytes.Buffer
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stderr.Write(p) })
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	var p opPeer
	select {
	case l, ok := <-line:
		if !ok || json.Unmarshal([]byte(l), &p) != nil {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("oidc-provider did not start: %q\n%s", l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not start within 30s")
	}
	return &p
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// token gets an access token by the client_credentials grant.
func (p *opPeer) token(t *testing.T, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, p.Issuer+"/token", strings.NewReader(form.Encode()))
	req.SetBasicAuth("svc", "svc-secret")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("token endpoint: %d %s", resp.StatusCode, body.Error)
	}
	return body.AccessToken
}

// admin calls POST /rotate or /retire and returns the current kid.
func (p *opPeer) admin(t *testing.T, action string) string {
	t.Helper()
	resp, err := http.Post(p.Admin+"/"+action, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Current string `json:"current"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %d %v", action, resp.StatusCode, err)
	}
	return st.Current
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
