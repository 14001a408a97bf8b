package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/login"
)

func TestCheckAddress(t *testing.T) {
	cases := []struct {
		addr  string
		force bool
		ok    bool
	}{
		{"127.0.0.1:9400", false, true},
		{"[::1]:9400", false, true},
		{"localhost:9400", false, true},
		{"0.0.0.0:9400", false, false},
		{"192.0.2.1:9400", false, false},
		{":9400", false, false},
		{"0.0.0.0:9400", true, true},
		{"nonsense", true, false},
	}
	for _, c := range cases {
		err := CheckAddress(c.addr, c.force)
		if (err == nil) != c.ok {
			t.Errorf("CheckAddress(%q, %v) = %v", c.addr, c.force, err)
		}
		if !c.ok && c.addr != "nonsense" && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("CheckAddress(%q): %v, want ErrNotLoopback", c.addr, err)
		}
	}
	if _, err := New(&config.DevProvider{Address: "0.0.0.0:1"}, nil); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("New on 0.0.0.0 without force: %v", err)
	}
}

func startProvider(t *testing.T) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.DevProvider{
		Address: ln.Addr().String(), Issuer: "http://" + ln.Addr().String(), TokenLifetime: time.Minute,
		Users:   []config.DevUser{{Name: "alice", Email: "alice@example.com", Groups: []string{"dev"}}, {Name: "bob", Password: "pw"}},
		Clients: []config.DevClient{{ID: "web", RedirectURIs: []string{"http://127.0.0.1:1/.edgegate/callback"}}, {ID: "svc", Secret: "svc-secret"}},
	}
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

func TestProvider(t *testing.T) {
	p := startProvider(t)
	ctx := context.Background()
	rp, err := login.Discover(ctx, nil, p.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if rp.Meta.EndSessionEndpoint == "" || rp.Meta.UserinfoEndpoint == "" {
		t.Errorf("metadata lacks endpoints: %+v", rp.Meta)
	}

	t.Run("client credentials", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}
		req, _ := http.NewRequest("POST", rp.Meta.TokenEndpoint, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", "svc-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.AccessToken == "" {
			t.Fatalf("client_credentials: %d %v", resp.StatusCode, err)
		}
		req.SetBasicAuth("svc", "wrong")
		req.Body = io.NopCloser(strings.NewReader(form.Encode()))
		resp2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode == 200 {
			t.Error("client_credentials with a wrong secret accepted")
		}
	})

	t.Run("picker is marked development-only", func(t *testing.T) {
		resp, err := http.Get(p.Issuer() + "/login?authRequestID=nope")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "DEVELOPMENT ONLY") {
			t.Errorf("unknown request: %d %s", resp.StatusCode, b)
		}
		resp, err = http.PostForm(p.Issuer()+"/login", url.Values{"authRequestID": {"x"}, "user": {"bob"}, "password": {"bad"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("wrong password: %d", resp.StatusCode)
		}
	})

	t.Run("mint and rotate", func(t *testing.T) {
		tok, err := p.Mint("alice", "api", 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		c, err := rp.VerifyIDToken(ctx, tok, "api", "")
		if err != nil {
			t.Fatalf("minted token: %v", err)
		}
		if g := c.Strings("groups"); len(g) != 1 || g[0] != "dev" {
			t.Errorf("groups %v", g)
		}
		kid, err := p.RotateKey()
		if err != nil {
			t.Fatal(err)
		}
		tok2, _ := p.Mint("alice", "api", time.Minute)
		jws, _ := jose.ParseSigned(tok2, []jose.SignatureAlgorithm{jose.RS256})
		if jws.Signatures[0].Header.KeyID != kid {
			t.Errorf("minted with kid %q after rotation to %q", jws.Signatures[0].Header.KeyID, kid)
		}
		// Both the new key (fetched on the unknown kid) and the old one verify.
		if _, err := rp.VerifyIDToken(ctx, tok2, "api", ""); err != nil {
			t.Errorf("token of the rotated key: %v", err)
		}
		if _, err := rp.VerifyIDToken(ctx, tok, "api", ""); err != nil {
			t.Errorf("token of the previous key: %v", err)
		}
		for _, c := range []struct {
			user string
			ttl  time.Duration
		}{{"mallory", time.Minute}, {"alice", 0}, {"alice", 2 * time.Hour}} {
			if _, err := p.Mint(c.user, "", c.ttl); err == nil {
				t.Errorf("Mint(%q, %s) accepted", c.user, c.ttl)
			}
		}
	})

	t.Run("mint endpoint", func(t *testing.T) {
		resp, err := http.Get(p.Issuer() + MintPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET mint: %d", resp.StatusCode)
		}
		resp, err = http.Post(p.Issuer()+MintPath, "application/json", strings.NewReader(`{"user":"alice","ttl":"bogus"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("bad ttl: %d", resp.StatusCode)
		}
	})
}
