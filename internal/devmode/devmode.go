// Package devmode is what `edgegate dev` runs: a built-in example
// configuration and a demo origin, so a newcomer sees the gateway work with
// no other setup. Nothing here is meant for production; the demo origin
// echoes whatever it is sent.
package devmode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Addrs are the loopback addresses dev mode uses.
type Addrs struct {
	Gateway string // public listener
	Admin   string
	Origin  string // the demo origin
}

// DefaultAddrs are fixed so the printed examples can be copied; every one
// is on loopback.
var DefaultAddrs = Addrs{Gateway: "127.0.0.1:8080", Admin: "127.0.0.1:9901", Origin: "127.0.0.1:9000"}

// Config returns the built-in dev configuration for a.
func Config(a Addrs) []byte {
	var b bytes.Buffer
	if err := configTmpl.Execute(&b, a); err != nil {
		// The template is a constant; failing to execute it is a bug.
		panic(err)
	}
	return b.Bytes()
}

var configTmpl = template.Must(template.New("dev").Parse(`# edgegate dev: built-in example configuration (print it with: edgegate dev --print-config)
version: 1
listeners:
  - name: public
    address: "{{.Gateway}}"
    h2c: true
admin:
  address: "{{.Admin}}"
log:
  level: info
  access: true
pools:
  - name: demo
    members:
      - url: http://{{.Origin}}
    health_check:
      path: /healthz
      interval: 2s
      timeout: 1s
routes:
  - name: docs-moved
    match:
      path_prefix: /old-docs
    redirect:
      to: /docs
      status: 301
      keep_query: true
  - name: api
    match:
      path_prefix: /api
    pool: demo
    rewrite:
      strip_prefix: /api
      replace_prefix: /v1
    request_headers:
      set: {X-Edge-Route: api}
    response_headers:
      set: {X-Served-By: edgegate}
  - name: site
    match:
      path_prefix: /
    pool: demo
`))

// Origin is the demo origin's handler: it shows each request as the origin
// received it (path after rewrites, X-Forwarded-* set by the gateway), and
// offers a WebSocket echo and a server-sent event stream to try streaming.
func Origin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl, _ := w.(http.Flusher)
		for i := 1; i <= 5; i++ {
			fmt.Fprintf(w, "data: tick %d at %s\n\n", i, time.Now().Format(time.RFC3339))
			if fl != nil {
				fl.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		seen := Seen(r)
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = pageTmpl.Execute(w, seen)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(seen)
	})
	return mux
}

// Request is what the demo origin saw.
type Request struct {
	Origin  string            `json:"origin"`
	Method  string            `json:"method"`
	Host    string            `json:"host"`
	Path    string            `json:"path"`
	Query   string            `json:"query,omitempty"`
	Proto   string            `json:"proto"`
	Headers map[string]string `json:"headers"`
	Names   []string          `json:"-"`
}

// Seen describes r as the origin received it.
func Seen(r *http.Request) Request {
	out := Request{Origin: "edgegate demo origin", Method: r.Method, Host: r.Host, Path: r.URL.Path,
		Query: r.URL.RawQuery, Proto: r.Proto, Headers: map[string]string{}}
	for k, vv := range r.Header {
		out.Headers[k] = strings.Join(vv, ", ")
		out.Names = append(out.Names, k)
	}
	sort.Strings(out.Names)
	return out
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html><html><head><meta charset=utf-8>
<title>edgegate demo origin</title><style>body{font-family:system-ui;margin:2em}td{padding:2px 8px;font-family:monospace}</style>
</head><body><h1>edgegate demo origin</h1><p>This page is served by the demo origin behind edgegate. It shows the request as the origin received it.</p>
<table><tr><td>method</td><td>{{.Method}}</td></tr><tr><td>host</td><td>{{.Host}}</td></tr><tr><td>path</td><td>{{.Path}}</td></tr>
<tr><td>query</td><td>{{.Query}}</td></tr><tr><td>proto</td><td>{{.Proto}}</td></tr></table>
<h2>Headers</h2><table>{{range .Names}}<tr><td>{{.}}</td><td>{{index $.Headers .}}</td></tr>{{end}}</table></body></html>
`))

// ServeOrigin runs the demo origin on addr until ctx is done.
func ServeOrigin(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: Origin(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// Banner is printed when dev mode is up: where to look and what to try.
func Banner(a Addrs) string {
	g, adm := "http://"+a.Gateway, "http://"+a.Admin
	return fmt.Sprintf(`
edgegate dev is running (development only: everything is on loopback)

  gateway      %[1]s/
  admin        %[2]s/metrics  %[2]s/readyz  %[2]s/status
  demo origin  http://%[3]s (reached only through the gateway in these examples)

Try:
  curl -s %[1]s/hello                    # proxied; the origin echoes what it saw
  curl -s %[1]s/api/users?id=7           # route "api": /api stripped, /v1 added, headers set
  curl -si %[1]s/old-docs/intro?x=1      # route "docs-moved": 301 to /docs?x=1 (query kept)
  curl -si %[1]s/a/%%2e%%2e/etc/passwd     # request hygiene: normalized to /etc/passwd
  curl -si %[1]s/a%%2fb                   # request hygiene: encoded slash refused with 400
  curl -sN %[1]s/events                  # server-sent events stream through the gateway
  edgegate route -c <(edgegate dev --print-config) http://localhost/api/users   # which route, and why

Press Ctrl-C to stop.
`, g, adm, a.Origin)
}
