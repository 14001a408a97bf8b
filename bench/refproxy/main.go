// Command refproxy is the Go reference point of the benchmark harness: a
// plain httputil.ReverseProxy with the tuning that benchmarks.md §2.3 and §5
// showed to pay (a pooled copy buffer, a large idle pool toward the origin,
// error logging discarded). edgegate is judged by its ratio to this figure,
// so it must stay a faithful "best plain net/http proxy", not grow features.
//
// Usage:
//
//	GOMAXPROCS=1 refproxy -listen 127.0.0.1:8081 -origin http://127.0.0.1:8080
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"time"
)

// copyBufferSize matches the buffer httputil allocates per request when no
// BufferPool is set, so the pool changes allocation behaviour only.
const copyBufferSize = 32 << 10

// bufferPool hands ReverseProxy reusable copy buffers. Without it every
// request allocates 32 KiB, which costs about a third of the CPU per request
// (benchmarks.md §2.3).
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}}}
}

// Get returns a buffer of copyBufferSize bytes.
func (bp *bufferPool) Get() []byte { return *(bp.p.Get().(*[]byte)) }

// Put returns b to the pool; a buffer of another size is dropped so that
// Get keeps its size promise.
func (bp *bufferPool) Put(b []byte) {
	if cap(b) != copyBufferSize {
		return
	}
	b = b[:copyBufferSize]
	bp.p.Put(&b)
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "refproxy:", err)
		os.Exit(1)
	}
}

// newProxy returns the tuned reverse proxy toward target.
func newProxy(target *url.URL) *httputil.ReverseProxy {
	// Timeouts mirror edgegate's defaults. The idle pool is raised from the
	// default of 2 per host, which under 64-way concurrency forces new origin
	// connections and would measure dialling, not proxying.
	transport := &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &httputil.ReverseProxy{
		// Rewrite (not Director) so hop-by-hop and X-Forwarded-* headers
		// from the client are already stripped, as in edgegate.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
		},
		Transport:  transport,
		BufferPool: newBufferPool(),
		// Client cancellations under load would otherwise be logged per
		// request and the logging would be measured.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("refproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	origin := fs.String("origin", "", "origin base URL, e.g. http://127.0.0.1:8080")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target, err := url.Parse(*origin)
	if err != nil {
		return fmt.Errorf("parse -origin: %w", err)
	}
	if target.Scheme != "http" && target.Scheme != "https" || target.Host == "" {
		return fmt.Errorf("-origin %q: want an absolute http(s) URL", *origin)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           newProxy(target),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
