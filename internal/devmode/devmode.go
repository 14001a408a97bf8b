// Package devmode is what `edgegate dev` runs: a built-in example
// configuration and a demo origin, so a newcomer sees the gateway work with
// no other setup. Nothing here is meant for production; the demo origin
// echoes whatever it is sent.
package devmode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/pkg/verifier"

	"github.com/coder/websocket"
)

// Addrs are the loopback addresses dev mode uses.
type Addrs struct {
	Gateway  string // public listener
	Admin    string
	Origin   string // the demo origin
	Provider string // the embedded OpenID provider (dev users log in there)
	// AuditDir is where the audit trail goes (audit.jsonl); empty, dev mode
	// keeps no trail. Not an address, but it shapes the config the same way.
	AuditDir string
	// ForceProvider lets the dev provider listen on a wildcard address
	// (edgegate dev --force-provider; issue #3 item 9: development only,
	// "unless explicitly forced"). Everything else stays on loopback.
	ForceProvider bool
}

// DefaultAddrs are fixed so the printed examples can be copied; every one
// is on loopback.
var DefaultAddrs = Addrs{Gateway: "127.0.0.1:8080", Admin: "127.0.0.1:9901", Origin: "127.0.0.1:9000", Provider: "127.0.0.1:9400"}

// DevClientID is the OAuth client of the gateway at the dev provider, and
// the audience of dev tokens.
const DevClientID = "edgegate"

// DebugTokenEnv is the environment variable holding the EdgeWorkers debug
// token of the dev routes (Akamai-EW-Trace); unset, no debug headers.
const DebugTokenEnv = "EDGEGATE_DEV_EW_TRACE"

// withProvider fills in the provider address for callers that predate it.
func (a Addrs) withProvider() Addrs {
	if a.Provider == "" {
		a.Provider = DefaultAddrs.Provider
	}
	return a
}

// providerHost is where the gateway, browsers and `edgegate token` reach
// the dev provider, and so its issuer URL: the provider's own address, or
// loopback on its port when a forced provider listens on a wildcard.
func (a Addrs) providerHost() string {
	host, port, err := net.SplitHostPort(a.Provider)
	if err != nil {
		return a.Provider
	}
	switch host {
	case "", "0.0.0.0":
		return net.JoinHostPort("127.0.0.1", port)
	case "::":
		return net.JoinHostPort("::1", port)
	}
	return a.Provider
}

// ErrProviderAddress is returned by CheckProvider.
var ErrProviderAddress = errors.New("the dev provider has no real authentication and only listens on loopback")

// CheckProvider says whether dev mode may run the provider on a.Provider:
// a loopback address, or with ForceProvider a wildcard one (0.0.0.0:PORT,
// [::]:PORT), which the gateway then reaches over loopback. A specific
// non-loopback address is refused even when forced: the gateway fetches
// keys over plain http only from loopback.
func CheckProvider(a Addrs) error {
	host, _, err := net.SplitHostPort(a.Provider)
	if err != nil {
		return fmt.Errorf("dev provider address %q: %w", a.Provider, err)
	}
	if isLoopback(host) {
		return nil
	}
	if !a.ForceProvider {
		return fmt.Errorf("dev provider address %q: %w (--force-provider lets it listen on a wildcard address such as 0.0.0.0:9400; never in production)", a.Provider, ErrProviderAddress)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return nil
	}
	return fmt.Errorf("dev provider address %q: with --force-provider give a wildcard address such as 0.0.0.0:9400 (the gateway reaches the provider over loopback; it fetches keys over plain http from nowhere else): %w", a.Provider, ErrProviderAddress)
}

// offLoopback is whether a forced provider really listens beyond loopback.
func (a Addrs) offLoopback() bool {
	host, _, err := net.SplitHostPort(a.Provider)
	return a.ForceProvider && err == nil && !isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ForcedWarning is printed, on stdout and stderr, when the dev provider is
// forced off loopback.
func ForcedWarning(a Addrs) string {
	if !a.offLoopback() {
		return ""
	}
	line := strings.Repeat("!", 78)
	return fmt.Sprintf(`%[1]s
!! WARNING: --force-provider: the DEVELOPMENT ONLY OpenID provider listens on
!!   %[2]s, NOT only on loopback. It has NO real authentication: anyone who
!!   can reach it can log in as any dev user and mint tokens this gateway
!!   trusts. Never run this on a shared or public network, never in production.
%[1]s
`, line, a.Provider)
}

// callbackHosts are the host:port forms a browser may use to reach the
// gateway; the dev provider accepts a callback on each.
func (a Addrs) callbackHosts() []string {
	out := []string{a.Gateway}
	if host, port, err := net.SplitHostPort(a.Gateway); err == nil && (host == "127.0.0.1" || host == "::1") {
		out = append(out, net.JoinHostPort("localhost", port))
	}
	return out
}

// Config returns the built-in dev configuration for a.
func Config(a Addrs) []byte {
	var b bytes.Buffer
	a = a.withProvider()
	data := struct {
		Addrs
		ProviderHost  string
		OffLoopback   bool
		ClientID      string
		Callbacks     []string
		DebugTokenEnv string
	}{a, a.providerHost(), a.offLoopback(), DevClientID, a.callbackHosts(), DebugTokenEnv}
	if err := configTmpl.Execute(&b, data); err != nil {
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
  # The dev provider, for its public keys (route ew-keys).
  - name: dev-provider
    members:
      - url: http://{{.ProviderHost}}
# EdgeWorkers: examples/edgeworkers/dev, carried in the binary.
scripts:
  bundles:
    - {name: dev, path: "embedded:dev"}
{{if .AuditDir}}# The audit trail: every decision, hash-chained (check it: edgegate audit verify DIR).
audit:
  sinks:
    - {type: file, path: "{{.AuditDir}}/audit.jsonl"}
  # Frequent signed checkpoints, so a short session already shows some.
  checkpoint: {every: 100, interval: 10s}
{{else}}# No audit trail: edgegate dev adds one in a new temporary directory at start.
{{end}}# The embedded OpenID provider (development only) and its dev users.
dev_provider:
  address: "{{.Provider}}"
{{- if .OffLoopback}}
  # edgegate dev --force-provider: NOT loopback only. Development only.
  force: true
  issuer: "http://{{.ProviderHost}}"
{{- end}}
  token_lifetime: 5m
  users:
    - {name: alice, email: alice@example.com, groups: [dev, admins], roles: [editor]}
    - {name: bob, email: bob@example.com, groups: [dev]}
  clients:
    # A public client (PKCE, no secret) for the gateway's browser login.
    - id: {{.ClientID}}
      redirect_uris:{{range .Callbacks}}
        - "http://{{.}}/.edgegate/callback"{{end}}
# Tokens of the dev provider are trusted for bearer routes...
identity:
  issuers:
    - name: dev
      issuer: "http://{{.ProviderHost}}"
      audiences: [{{.ClientID}}]
# ...and it is where browsers log in for session routes.
login:
  issuer: dev
  client_id: {{.ClientID}}
  post_logout_redirect: /
  session:
    idle_timeout: 1h
routes:
  # The dev provider's JWKS, which the "dev" bundle fetches with httpRequest.
  - name: ew-keys
    match:
      path_exact: /ew/keys
    pool: dev-provider
    rewrite:
      strip_prefix: /ew/keys
      replace_prefix: /keys
  # The "dev" EdgeWorkers bundle: a JWT check (/ew/jwt/), redirects
  # (/ew/promo, /ew/old-page, /ew/docs) and an A/B cookie route (/ew/ab/).
  - name: ew-demo
    match:
      path_prefix: /ew/
    pool: demo
    script:
      bundle: dev
      debug_token_env: {{.DebugTokenEnv}}
      variables:
        PMUSER_JWT_ISSUER: "http://{{.ProviderHost}}"
        PMUSER_JWT_AUDIENCE: {{.ClientID}}
  - name: app
    match:
      path_prefix: /app/
    pool: demo
    auth: {mode: session}
    allow:
      - name: dev-group
        expr: '"dev" in identity.groups'
  - name: private-api
    match:
      path_prefix: /api/private/
    pool: demo
    auth: {mode: bearer_or_session}
    allow:
      - name: dev-group
        expr: '"dev" in identity.groups'
    rewrite:
      strip_prefix: /api/private
      replace_prefix: /v1/private
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
func Origin() http.Handler { return OriginWith(nil) }

// Verify checks the identity assertion on a request, as a real origin
// would with pkg/verifier. It returns nil, nil when the request carries none.
type Verify func(r *http.Request) (any, error)

// AssertionCheck is what the demo origin expects of the gateway's
// assertions: the settings an origin of the demo pool would be given.
type AssertionCheck struct {
	JWKSURL string
	// Header carries the assertion; "" is verifier.DefaultHeader.
	Header string
	Issuer string
	// Audiences the gateway sends to the demo pool (each route's
	// assertion.audience, by default the pool's name).
	Audiences []string
}

// CheckFor is the AssertionCheck of cfg's routes to the demo pool, with the
// gateway's JWKS at gateway (host:port).
func CheckFor(cfg *config.Config, gateway string) AssertionCheck {
	c := AssertionCheck{JWKSURL: "http://" + gateway + "/.well-known/edgegate/jwks.json", Header: cfg.Assertion.Header, Issuer: cfg.Assertion.Issuer}
	for _, r := range cfg.Routes {
		aud := r.Assertion.Audience
		if r.Pool != DemoPool || r.Assertion.Disabled || aud == "" || slices.Contains(c.Audiences, aud) {
			continue
		}
		c.Audiences = append(c.Audiences, aud)
	}
	if len(c.Audiences) == 0 {
		c.Audiences = []string{DemoPool}
	}
	return c
}

// AssertionVerifier verifies assertions against the gateway's JWKS with
// pkg/verifier, the library real origins import, trying each audience.
// The verifiers are made on first use, so the demo origin can start before
// the gateway it trusts.
func AssertionVerifier(c AssertionCheck) Verify {
	header := c.Header
	if header == "" {
		header = verifier.DefaultHeader
	}
	var mu sync.Mutex
	var vs []*verifier.Verifier
	return func(r *http.Request) (any, error) {
		tok := r.Header.Get(header)
		if tok == "" {
			return nil, nil
		}
		mu.Lock()
		if vs == nil {
			for _, aud := range c.Audiences {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				nv, err := verifier.New(ctx, verifier.Options{JWKSURL: c.JWKSURL, Issuer: c.Issuer, Audience: aud})
				cancel()
				if err != nil {
					vs = nil
					mu.Unlock()
					return nil, err
				}
				vs = append(vs, nv)
			}
		}
		cur := vs
		mu.Unlock()
		var err error
		for _, v := range cur {
			var id *verifier.Identity
			if id, err = v.VerifyContext(r.Context(), tok); err == nil {
				return id, nil
			}
			if !errors.Is(err, verifier.ErrAudience) {
				break
			}
		}
		return nil, err
	}
}

// OriginWith is Origin with the assertion checked by verify (nil: not
// checked): the echo then shows the verified identity, or why it failed.
// Headers named in redact (a custom assertion header) are shown only as
// fingerprints, as the credentials Seen knows of are.
func OriginWith(verify Verify, redact ...string) http.Handler {
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
		seen := seenRedacting(r, redact)
		if verify != nil {
			id, err := verify(r)
			switch {
			case err != nil:
				seen.AssertionError = err.Error()
			case id != nil:
				seen.Identity = id
			}
		}
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
	// Identity is what the gateway's signed assertion says, checked with
	// pkg/verifier; AssertionError says why the check failed.
	Identity       any    `json:"verified_identity,omitempty"`
	AssertionError string `json:"assertion_error,omitempty"`
}

// Seen describes r as the origin received it.
func Seen(r *http.Request) Request { return seenRedacting(r, nil) }

func seenRedacting(r *http.Request, redact []string) Request {
	out := Request{Origin: "edgegate demo origin", Method: r.Method, Host: r.Host, Path: r.URL.Path,
		Query: r.URL.RawQuery, Proto: r.Proto, Headers: map[string]string{}}
	for k, vv := range r.Header {
		v := strings.Join(vv, ", ")
		if k == "Authorization" || k == "Cookie" || k == verifier.DefaultHeader || slices.Contains(redact, k) {
			// Even a demo page shows no credential: only its fingerprint.
			v = "(fingerprint " + identity.Fingerprint(v) + ")"
		}
		out.Headers[k] = v
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
{{if .Identity}}<h2>Verified identity (from the gateway's signed assertion)</h2><pre>{{printf "%+v" .Identity}}</pre>{{end}}
{{if .AssertionError}}<h2>Assertion refused</h2><p>{{.AssertionError}}</p>{{end}}
<h2>Headers</h2><table>{{range .Names}}<tr><td>{{.}}</td><td>{{index $.Headers .}}</td></tr>{{end}}</table></body></html>
`))

// ServeOrigin runs the demo origin on addr until ctx is done.
func ServeOrigin(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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
	a = a.withProvider()
	g, adm := "http://"+a.Gateway, "http://"+a.Admin
	return ForcedWarning(a) + fmt.Sprintf(`
edgegate dev is running (development only: everything is on loopback)

  gateway      %[1]s/
  admin        %[2]s/metrics  %[2]s/readyz  %[2]s/status
  demo origin  http://%[3]s (reached only through the gateway in these examples)
  dev provider http://%[4]s (DEVELOPMENT ONLY OpenID provider; users alice and bob, no passwords)

Log in with a browser:
  open %[1]s/app/                        # route "app" needs a session: pick alice at the dev provider
  then %[1]s/.edgegate/whoami and %[1]s/.edgegate/logout

Call the API with a dev token:
  TOKEN=$(edgegate token --user alice)   # a 5-minute token from the dev provider (never logged)
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s/api/private/orders   # route "private-api": bearer or session
  curl -si %[1]s/api/private/orders      # without a token: 401 with WWW-Authenticate

EdgeWorkers (bundle "dev" = examples/edgeworkers/dev, on route "ew-demo"):
  curl -si %[1]s/ew/jwt/orders           # JWT check with crypto.subtle: no token, 401 from onClientRequest
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s/ew/jwt/orders   # dev token verified: X-Jwt-Sub at the origin
  curl -si %[1]s/ew/promo                # redirect table (redirects.json): 302 to /ew/ab/?from=promo
  curl -si %[1]s/ew/ab/                  # A/B: Set-Cookie ab=a|b, X-AB header, ?variant= at the origin
  curl -si -b ab=b %[1]s/ew/ab/          # the cookie is honoured: always variant b
  edgegate worker test embedded:dev --url http://localhost/ew/promo   # the same bundle, without the gateway
  Debug headers: start with %[5]s=mytoken, then add
    -H 'Pragma: akamai-x-ew-debug' -H 'Akamai-EW-Trace: mytoken'

%[6]sTry:
  curl -s %[1]s/hello                    # proxied; the origin echoes what it saw
  curl -s %[1]s/api/users?id=7           # route "api" (public): /api stripped, /v1 added, headers set
  curl -si %[1]s/old-docs/intro?x=1      # route "docs-moved": 301 to /docs?x=1 (query kept)
  curl -si %[1]s/a/%%2e%%2e/etc/passwd     # request hygiene: normalized to /etc/passwd
  curl -si %[1]s/a%%2fb                   # request hygiene: encoded slash refused with 400
  curl -sN %[1]s/events                  # server-sent events stream through the gateway
  edgegate route -c <(edgegate dev --print-config) http://localhost/api/users   # which route, and why

Press Ctrl-C to stop.
`, g, adm, a.Origin, a.providerHost(), DebugTokenEnv, auditLines(a.AuditDir, g))
}

// FileBanner is Banner for `edgegate dev -c file`: the file's routes
// instead of the built-in examples, and what dev mode put in (notes).
func FileBanner(a Addrs, file string, cfg *config.Config, notes []string) string {
	a = a.withProvider()
	g, adm := "http://"+a.Gateway, "http://"+a.Admin
	var b strings.Builder
	b.WriteString(ForcedWarning(a))
	var users []string
	pw := false
	if cfg.DevProvider != nil {
		for _, u := range cfg.DevProvider.Users {
			users = append(users, u.Name)
			pw = pw || u.Password != ""
		}
	}
	pwNote := "no passwords"
	if pw {
		pwNote = "passwords as in the file"
	}
	fmt.Fprintf(&b, `
edgegate dev is running %[1]s (development only: everything is on loopback)

  gateway      %[2]s/
  admin        %[3]s/metrics  %[3]s/readyz  %[3]s/status
  demo origin  http://%[4]s (pool %[5]q: prints the identity it verified from the gateway's assertion)
  dev provider http://%[6]s (DEVELOPMENT ONLY OpenID provider; users %[7]s, %[8]s)

From edgegate dev (the rest is %[1]s as written; see edgegate dev -h):
`, file, g, adm, a.Origin, DemoPool, a.providerHost(), strings.Join(users, ", "), pwNote)
	for _, n := range notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	fmt.Fprintf(&b, "\nRoutes of %s:\n", file)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	var authPath, sessionPath string
	for _, r := range cfg.Routes {
		path := examplePath(r.Match)
		auth := string(r.Auth.Mode)
		if auth == "" {
			auth = "public"
		}
		target := "pool " + r.Pool
		if r.Redirect != nil && r.Pool == "" {
			target = "redirect"
		}
		hosts := ""
		if len(r.Match.Hosts) > 0 {
			hosts = " (hosts " + strings.Join(r.Match.Hosts, ", ") + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s%s\t%s\t%d allow, %d deny\t%s\n", r.Name, path, hosts, auth, len(r.Allow), len(r.Deny), target)
		if len(r.Match.Hosts) == 0 && r.Pool != "" {
			if authPath == "" && strings.Contains(auth, "bearer") {
				authPath = path
			}
			if sessionPath == "" && strings.Contains(auth, "session") {
				sessionPath = path
			}
		}
	}
	tw.Flush()
	if authPath != "" {
		fmt.Fprintf(&b, `
Call it with a dev token (any dev user: edgegate token --user NAME):
  TOKEN=$(edgegate token --user %[3]s)
  curl -s -H "Authorization: Bearer $TOKEN" %[1]s%[2]s   # the demo origin prints "verified_identity"
  curl -si %[1]s%[2]s                                     # without a token: 401
`, g, authPath, firstOr(users, "alice"))
	}
	if sessionPath != "" && cfg.Login != nil {
		fmt.Fprintf(&b, `
Log in with a browser:
  open %[1]s%[2]s   then %[1]s/.edgegate/whoami and %[1]s/.edgegate/logout
`, g, sessionPath)
	}
	fmt.Fprintf(&b, `
Policy (compiled from the file when it loaded):
  edgegate policy test %[1]s                       # runs policy.tests_file
  edgegate policy explain -c %[1]s --url http://localhost%[2]s --identity '{"subject":"%[3]s","groups":["dev"]}'
  signing keys: %[4]s/.well-known/edgegate/jwks.json (they rotate on their own: keys.rotation)

%[5]sPress Ctrl-C to stop.
`, file, firstOr([]string{authPath, sessionPath}, "/"), firstOr(users, "alice"), g, auditLines(a.AuditDir, g))
	return b.String()
}

func firstOr(ss []string, def string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return def
}

// examplePath is a path a route matches, to show and to try.
func examplePath(m config.Match) string {
	if m.PathKind == config.PathAny {
		return "/"
	}
	return m.Path
}

// auditLines is the banner's audit section: where the trail is and how to
// check it, and how to see tampering caught.
func auditLines(dir, gateway string) string {
	if dir == "" {
		return ""
	}
	return fmt.Sprintf(`Audit trail (every decision above, hash-chained; a signed checkpoint every 10 s):
  edgegate audit verify --jwks %[2]s/.well-known/edgegate/jwks.json %[1]s   # OK: records, checkpoints, signatures
  cp -r %[1]s /tmp/tampered && sed -i 's/"decision":"deny"/"decision":"allow"/' /tmp/tampered/audit.jsonl
  edgegate audit verify /tmp/tampered                   # FAILED: file:line of every record changed

`, dir, gateway)
}
