package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/devidp"
	"github.com/edgegate/edgegate/internal/devmode"
	"github.com/edgegate/edgegate/internal/gateway"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dev", stderr)
	printCfg := fs.Bool("print-config", false, "print the built-in configuration and exit")
	gw := fs.String("listen", devmode.DefaultAddrs.Gateway, "gateway address (loopback)")
	adm := fs.String("admin", devmode.DefaultAddrs.Admin, "admin address (loopback)")
	org := fs.String("origin", devmode.DefaultAddrs.Origin, "demo origin address (loopback)")
	idp := fs.String("provider", devmode.DefaultAddrs.Provider, "embedded OpenID provider address (loopback)")
	auditDir := fs.String("audit-dir", "", `directory for the audit trail (default: a new temporary directory at each start; "off": none)`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	addrs := devmode.Addrs{Gateway: *gw, Admin: *adm, Origin: *org, Provider: *idp}
	if *auditDir != "off" {
		addrs.AuditDir = *auditDir
	}
	if *printCfg {
		_, _ = stdout.Write(devmode.Config(addrs))
		return 0
	}
	if addrs.AuditDir == "" && *auditDir != "off" {
		// A new directory per start: the dev key ring lives in memory, so a
		// trail continued across restarts would hold checkpoints signed by
		// keys nobody can show any more.
		dir, err := os.MkdirTemp("", "edgegate-dev-audit-")
		if err != nil {
			fmt.Fprintf(stderr, "edgegate dev: audit directory: %v\n", err)
			return 1
		}
		addrs.AuditDir = dir
	}
	src := devmode.Config(addrs)
	for _, a := range []string{addrs.Gateway, addrs.Admin, addrs.Origin, addrs.Provider} {
		if err := requireLoopback(a); err != nil {
			fmt.Fprintf(stderr, "edgegate dev: %v\n", err)
			return 2
		}
	}
	cfg, err := config.LoadBytes("(edgegate dev)", src)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate dev: built-in configuration: %v\n", err)
		return 1
	}
	originLn, err := net.Listen("tcp", addrs.Origin)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate dev: demo origin: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The demo origin checks the gateway's signed identity assertion with
	// pkg/verifier, as a real origin would, and shows what it says.
	verify := devmode.AssertionVerifier("http://"+addrs.Gateway+"/.well-known/edgegate/jwks.json", cfg.Assertion.Issuer, "demo")
	go func() { _ = devmode.ServeOrigin(ctx, originLn, devmode.OriginWith(verify)) }()

	// The dev provider comes up before the gateway, which discovers it.
	log := newLogger(stderr, cfg.Log.Level)
	if cfg.DevProvider != nil {
		idpLn, err := net.Listen("tcp", cfg.DevProvider.Address)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate dev: dev provider: %v\n", err)
			return 1
		}
		p, err := devidp.New(cfg.DevProvider, log.With("component", "dev-provider"))
		if err != nil {
			idpLn.Close()
			fmt.Fprintf(stderr, "edgegate dev: %v\n", err)
			return 1
		}
		go func() { _ = p.Serve(ctx, idpLn) }()
	}

	g, err := gateway.New(cfg, gateway.Options{Logger: log, AccessLog: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "edgegate dev: %v\n", err)
		return 1
	}
	defer g.Close()
	err = g.Serve(ctx, func(gateway.Listening) { fmt.Fprint(stdout, devmode.Banner(addrs)) })
	if err != nil {
		fmt.Fprintf(stderr, "edgegate dev: %v\n", err)
		return 1
	}
	return 0
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not on loopback: dev mode only listens on loopback", addr)
	}
	return nil
}
