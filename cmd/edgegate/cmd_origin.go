package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/edgegate/edgegate/internal/originproxy"
	"github.com/edgegate/edgegate/pkg/verifier"
)

// runOrigin is the origin sidecar: verify assertions, forward verified
// requests to the application with the identity in X-Edgegate-* headers.
func runOrigin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("origin", stderr)
	jwks := fs.String("jwks", "", "the gateway's key set URL, https://EDGE/.well-known/edgegate/jwks.json (required)")
	issuer := fs.String("issuer", "", "expected assertion issuer: the gateway's assertion.issuer (required)")
	audience := fs.String("audience", "", "expected audience: the route's assertion.audience, by default its pool name (required)")
	listen := fs.String("listen", "127.0.0.1:8443", "address to accept the gateway's requests on")
	upstream := fs.String("upstream", "", "the application, such as http://127.0.0.1:3000 (required)")
	header := fs.String("header", verifier.DefaultHeader, "request header holding the assertion")
	leeway := fs.Duration("leeway", 30*time.Second, "allowed clock skew")
	keep := fs.Bool("keep-assertion", false, "forward the assertion header to the application too")
	level := fs.String("log-level", "info", "debug|info|warn|error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *jwks == "" || *issuer == "" || *audience == "" || *upstream == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "edgegate origin: -jwks, -issuer, -audience and -upstream are required")
		return 2
	}
	up, err := url.Parse(*upstream)
	if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
		fmt.Fprintf(stderr, "edgegate origin: -upstream %q is not an http(s) URL\n", *upstream)
		return 2
	}
	log := newLogger(stderr, *level)
	fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	v, err := verifier.New(fctx, verifier.Options{JWKSURL: *jwks, Issuer: *issuer, Audience: *audience, Leeway: *leeway, Header: *header, Logger: log})
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "edgegate origin: %v\n", err)
		return 1
	}
	h, err := originproxy.New(originproxy.Options{Verifier: v, Upstream: up, AssertionHeader: *header, KeepAssertion: *keep, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "edgegate origin: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate origin: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	log.Info("origin sidecar listening", "address", ln.Addr().String(), "upstream", up.String(), "audience", *audience)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "edgegate origin: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "edgegate origin: shutdown: %v\n", err)
	}
	return 0
}
