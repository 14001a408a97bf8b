package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/devidp"
	"github.com/edgegate/edgegate/internal/login"
)

// startTokenProvider runs a dev provider and writes a configuration naming it.
func startTokenProvider(t *testing.T) (file, issuer string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	src := `version: 1
listeners: [{address: "127.0.0.1:0"}]
pools: [{name: app, members: [http://127.0.0.1:9000]}]
routes: [{name: all, pool: app}]
dev_provider:
  address: "` + addr + `"
  users: [{name: alice, email: alice@example.com, groups: [dev]}]
  clients: [{id: api, secret: s}]
`
	file = filepath.Join(t.TempDir(), "edgegate.yaml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := devidp.New(cfg.DevProvider, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return file, p.Issuer()
}

func TestToken(t *testing.T) {
	file, issuer := startTokenProvider(t)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"token", "--user", "alice", "-c", file, "--ttl", "2m"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	tok := strings.TrimSpace(out.String())
	if strings.Count(tok, ".") != 2 || errb.Len() != 0 {
		t.Fatalf("stdout %q stderr %q", tok, errb.String())
	}
	// The token verifies against the provider's published keys.
	p, err := login.Discover(context.Background(), nil, issuer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.VerifyIDToken(context.Background(), tok, "api", "")
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	exp, _ := c.Time("exp")
	iat, _ := c.Time("iat")
	if c.String("sub") != "alice" || c.String("email") != "alice@example.com" || exp.Sub(iat) != 2*time.Minute {
		t.Errorf("claims %v", c)
	}
	// --aud overrides the audience.
	out.Reset()
	if code := run(context.Background(), []string{"token", "--user", "alice", "-c", file, "--aud", "orders"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if _, err := p.VerifyIDToken(context.Background(), strings.TrimSpace(out.String()), "orders", ""); err != nil {
		t.Errorf("--aud orders: %v", err)
	}
}

func TestTokenErrors(t *testing.T) {
	file, _ := startTokenProvider(t)
	noProvider := filepath.Join(t.TempDir(), "plain.yaml")
	_ = os.WriteFile(noProvider, []byte("version: 1\nlisteners: [{address: \"127.0.0.1:0\"}]\npools: [{name: app, members: [http://127.0.0.1:9000]}]\nroutes: [{name: all, pool: app}]\n"), 0o600)
	// A provider address nobody listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	down := filepath.Join(t.TempDir(), "down.yaml")
	_ = os.WriteFile(down, []byte("version: 1\nlisteners: [{address: \"127.0.0.1:0\"}]\npools: [{name: app, members: [http://127.0.0.1:9000]}]\nroutes: [{name: all, pool: app}]\ndev_provider:\n  address: \""+dead+"\"\n  users: [{name: alice}]\n  clients: [{id: api, secret: s}]\n"), 0o600)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no user", []string{"token", "-c", file}, 2, "usage: edgegate token --user"},
		{"ttl too long", []string{"token", "--user", "alice", "-c", file, "--ttl", "2h"}, 2, "--ttl must be between"},
		{"unknown user", []string{"token", "--user", "mallory", "-c", file}, 1, `unknown dev user "mallory"`},
		{"no dev provider", []string{"token", "--user", "alice", "-c", noProvider}, 1, "no dev_provider section"},
		{"provider down", []string{"token", "--user", "alice", "-c", down}, 1, "start it with `edgegate dev` first"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), c.code, c.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q on failure", out.String())
			}
		})
	}
}
