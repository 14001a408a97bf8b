package main

import (
	"context"
	"errors"
	"flag"
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
	file := fs.String("c", "", "run this configuration file with dev mode's listeners, dev provider, demo pool and dev issuer (see above)")
	printCfg := fs.Bool("print-config", false, "print the built-in configuration and exit")
	gw := fs.String("listen", devmode.DefaultAddrs.Gateway, "gateway address (loopback)")
	adm := fs.String("admin", devmode.DefaultAddrs.Admin, "admin address (loopback)")
	org := fs.String("origin", devmode.DefaultAddrs.Origin, "demo origin address (loopback)")
	idp := fs.String("provider", devmode.DefaultAddrs.Provider, "embedded OpenID provider address (loopback unless --force-provider)")
	force := fs.Bool("force-provider", false, "let the dev provider listen on a wildcard address such as 0.0.0.0:9400 (it has NO real authentication: development only, never on a shared network)")
	auditDir := fs.String("audit-dir", "", `directory for the audit trail (default: a new temporary directory at each start; "off": none)`)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: edgegate dev [-c FILE] [flags]\n\nRuns the gateway, the embedded dev OpenID provider and a demo origin on loopback,\nwith a built-in example configuration (see --print-config) or FILE.\n\n")
		fmt.Fprint(fs.Output(), devmode.FileHelp, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edgegate dev: unexpected argument %q (a configuration file goes after -c)\n", fs.Arg(0))
		return 2
	}
	addrs := devmode.Addrs{Gateway: *gw, Admin: *adm, Origin: *org, Provider: *idp, ForceProvider: *force}
	if *auditDir != "off" {
		addrs.AuditDir = *auditDir
	}
	if *printCfg {
		if *file != "" {
			fmt.Fprintln(stderr, "edgegate dev: --print-config prints the built-in configuration; with -c, dev mode runs FILE with the parts listed in edgegate dev -h taken from it (its dev_provider section is what edgegate token -c needs)")
			return 2
		}
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
	for _, a := range []string{addrs.Gateway, addrs.Admin, addrs.Origin} {
		if err := requireLoopback(a); err != nil {
			fmt.Fprintf(stderr, "edgegate dev: %v\n", err)
			return 2
		}
	}
	if err := devmode.CheckProvider(addrs); err != nil {
		fmt.Fprintf(stderr, "edgegate dev: %v\n", err)
		return 2
	}
	var cfg *config.Config
	var banner string
	if *file == "" {
		var err error
		if cfg, err = config.LoadBytes("(edgegate dev)", devmode.Config(addrs)); err != nil {
			fmt.Fprintf(stderr, "edgegate dev: built-in configuration: %v\n", err)
			return 1
		}
		banner = devmode.Banner(addrs)
	} else {
		l, err := devmode.LoadFile(addrs, *file)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate dev -c %s:\n", *file)
			printErrors(stderr, err)
			return 1
		}
		cfg = l.Config
		banner = devmode.FileBanner(addrs, *file, cfg, l.Notes)
	}
	// Loud on both streams: stdout may be read by a person, stderr kept in a log.
	fmt.Fprint(stderr, devmode.ForcedWarning(addrs))
	originLn, err := net.Listen("tcp", addrs.Origin)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate dev: demo origin: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The demo origin checks the gateway's signed identity assertion with
	// pkg/verifier, as a real origin would, and shows what it says.
	verify := devmode.AssertionVerifier(devmode.CheckFor(cfg, addrs.Gateway))
	go func() { _ = devmode.ServeOrigin(ctx, originLn, devmode.OriginWith(verify, cfg.Assertion.Header)) }()

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
	err = g.Serve(ctx, func(gateway.Listening) { fmt.Fprint(stdout, banner) })
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

// devProviderIgnored is what `edgegate serve` says about a dev_provider
// section: only `edgegate dev` runs the embedded provider, so serve never
// starts it, and a configuration that trusts it only works while someone's
// `edgegate dev` runs. "" when there is none.
func devProviderIgnored(cfg *config.Config) string {
	if cfg.DevProvider == nil {
		return ""
	}
	return fmt.Sprintf("edgegate serve: WARNING: %s: the dev_provider section is ignored: the embedded DEVELOPMENT ONLY provider runs only under `edgegate dev`, never under serve (its settings, force included, do nothing here). Remove the section from a production configuration; point identity.issuers at your real provider.\n", cfg.File)
}
