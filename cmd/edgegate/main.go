// Command edgegate is the identity-aware edge gateway.
//
// This file only parses flags and starts things; every behaviour lives in
// internal/ packages. Subcommands are a table so later ones (token, policy,
// keys, worker, cache, audit) slot in with one line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/gateway"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/route"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

type command struct {
	name    string
	usage   string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "serve -c FILE", "run the gateway with a configuration file (reloads on change and SIGHUP)", runServe},
		{"dev", "dev [-c FILE] [--print-config]", "run the gateway, the dev OpenID provider and a demo origin on loopback (example configuration, or FILE)", runDev},
		{"validate", "validate FILE", "check a configuration file; print every error with file:line:column and field", runValidate},
		{"route", "route -c FILE [-m METHOD] [-H 'Name: value'] URL", "show which route a URL matches, and why", runRoute},
		{"token", "token --user NAME", "mint a short-lived token from the embedded dev provider, for API testing", runToken},
		{"policy", "policy test|explain ...", "run policy test cases, or explain one decision rule by rule", runPolicy},
		{"keys", "keys list|rotate ...", "list the gateway's signing keys, or rotate them now (with a reason)", runKeys},
		{"origin", "origin -jwks URL -upstream URL ...", "run the origin sidecar: verify identity assertions, forward verified requests", runOrigin},
		{"audit", "audit verify FILE...", "verify the audit trail's hash chain and signed checkpoints", runAudit},
		{"cache", "cache purge ...", "purge the edge cache by URL, prefix or tag (through the admin API)", runCache},
		{"worker", "worker test|activate ...", "run an EdgeWorkers bundle locally, or switch the active version", runWorker},
		{"version", "version", "print the version", runVersion},
	}
}

func main() {
	// A proxy's heap is small and short-lived: collecting at 4× the live
	// heap instead of 2× cuts CPU per request (benchmarks.md §5) for a few
	// MB of memory. GOGC in the environment still decides when set.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "edgegate: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "edgegate: identity-aware edge gateway\n\nUsage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  edgegate %-52s %s\n", c.usage, c.summary)
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("edgegate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", stderr)
	file := fs.String("c", "", "configuration file (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "edgegate serve: -c FILE is required")
		return 2
	}
	cfg, err := config.Load(*file)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate serve: %v\n", err)
		return 1
	}
	fmt.Fprint(stderr, devProviderIgnored(cfg))
	log := newLogger(stderr, cfg.Log.Level)
	g, err := gateway.New(cfg, gateway.Options{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "edgegate serve: %v\n", err)
		return 1
	}
	defer g.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rl := &gateway.Reloader{Path: *file, Gateway: g}
	go func() {
		if err := rl.Run(ctx, hup); err != nil {
			log.Error("config watcher stopped; SIGHUP and file changes are not reloaded", "err", err)
		}
	}()
	if err := g.Serve(ctx, nil); err != nil {
		fmt.Fprintf(stderr, "edgegate serve: %v\n", err)
		return 1
	}
	return 0
}

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: edgegate validate FILE")
		return 2
	}
	file := fs.Arg(0)
	cfg, err := config.Load(file)
	if err == nil {
		// Route compilation finds what the schema cannot: overlapping routes.
		_, err = route.Compile(cfg.Routes, cfg.Positions)
	}
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d listeners, %d pools, %d routes)\n", file, len(cfg.Listeners), len(cfg.Pools), len(cfg.Routes))
	return 0
}

// printErrors prints one line per configuration problem.
func printErrors(w io.Writer, err error) {
	var list config.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		fmt.Fprintf(w, "%d error(s)\n", len(list))
		return
	}
	fmt.Fprintln(w, err.Error())
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func runRoute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("route", stderr)
	file := fs.String("c", "", "configuration file (required)")
	method := fs.String("m", "GET", "request method")
	var headers headerFlags
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: edgegate route -c FILE [-m METHOD] [-H 'Name: value'] URL")
		return 2
	}
	cfg, err := config.Load(*file)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	table, err := route.Compile(cfg.Routes, cfg.Positions)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	req, err := routeRequest(fs.Arg(0), *method, headers)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate route: %v\n", err)
		return 2
	}
	ex := table.Explain(req)
	fmt.Fprintln(stdout, ex.String())
	if ex.Matched == nil {
		return 1
	}
	return 0
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "devel+" + s.Value[:12]
				}
			}
		}
	}
	fmt.Fprintf(stdout, "edgegate %s\n", v)
	return 0
}

// routeRequest builds the router's view of a URL given on the command line,
// normalized the way the gateway's hygiene stage would.
func routeRequest(raw, method string, headers []string) (*route.Request, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("URL %q: want an absolute http:// or https:// URL", raw)
	}
	req := &route.Request{Host: strings.ToLower(u.Hostname()), Method: strings.ToUpper(method), Header: make(map[string][]string)}
	path, err := normalizePath(u)
	if err != nil {
		return nil, err
	}
	req.Path = path
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("header %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
}

func normalizePath(u *url.URL) (string, error) {
	raw := u.EscapedPath()
	if raw == "" {
		raw = "/"
	}
	p, err := hygiene.NormalizePath(raw)
	if err != nil {
		return "", fmt.Errorf("path %q would be refused by the gateway: %w", raw, err)
	}
	return p, nil
}
