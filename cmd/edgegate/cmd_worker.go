package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/edgekv"
	"github.com/edgegate/edgegate/internal/gateway"
	"github.com/edgegate/edgegate/internal/script"
)

const workerUsage = `usage:
  edgegate worker test BUNDLE [--handler all|onClientRequest|...] [--url URL] [--method M] [-H 'Name: value']...
        [--request FILE.json] [--body TEXT] [--tier basic|dynamic|enterprise] [--var PMUSER_X=v]...
        [--location country=US,region=CA,...] [--client-ip IP] [--geoip DB.mmdb] [--device] [--edgekv DATA.json]
        [--response-status N] [--response-header 'Name: value']... [--response-body TEXT] [--json]
  edgegate worker activate (-c CONFIG | --admin URL) --bundle NAME --version ID [--network production|staging]`

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, workerUsage)
		return 2
	}
	switch args[0] {
	case "test":
		return runWorkerTest(ctx, args[1:], stdout, stderr)
	case "activate":
		return runWorkerActivate(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "edgegate worker: unknown subcommand %q (test or activate)\n", args[0])
	return 2
}

// parseInterleaved parses flags that may come before or after the
// positional arguments ("worker test BUNDLE --url ..."), which the flag
// package alone does not allow.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// workerRequestFile is the --request file: a request, and optionally the
// origin response the origin-side handlers see.
type workerRequestFile struct {
	Method    string              `json:"method"`
	URL       string              `json:"url"`
	Headers   map[string]jsonStrs `json:"headers"`
	Body      string              `json:"body"`
	ClientIP  string              `json:"clientIp"`
	Variables map[string]string   `json:"variables"`
	Location  *script.Location    `json:"location"`
	Response  *struct {
		Status  int                 `json:"status"`
		Headers map[string]jsonStrs `json:"headers"`
		Body    string              `json:"body"`
	} `json:"response"`
}

// jsonStrs accepts "v" or ["v1", "v2"].
type jsonStrs []string

func (s *jsonStrs) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("a header value must be a string or an array of strings")
	}
	*s = many
	return nil
}

func addHeaders(h http.Header, lines []string) error {
	for _, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("header %q: want 'Name: value'", l)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return nil
}

func runWorkerTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("worker test", stderr)
	handler := fs.String("handler", "all", "handler to run: all, onClientRequest, onOriginRequest, onOriginResponse, onClientResponse or responseProvider")
	rawURL := fs.String("url", "", "request URL (default https://www.example.com/)")
	method := fs.String("method", "", "request method (default GET)")
	reqFile := fs.String("request", "", "JSON file describing the request (and origin response)")
	body := fs.String("body", "", "request body (responseProvider)")
	tierName := fs.String("tier", script.DefaultTier, "resource tier")
	location := fs.String("location", "", "userLocation, e.g. country=US,region=CA,city=SANJOSE")
	clientIP := fs.String("client-ip", "", "request.clientIp (default 192.0.2.1)")
	kvFile := fs.String("edgekv", "", "EdgeKV data file (JSON) served to the bundle's EdgeKV calls")
	kvToken := fs.String("edgekv-token", "", "EdgeKV token to require (default: any non-empty token)")
	geoFile := fs.String("geoip", "", "MaxMind .mmdb giving userLocation from --client-ip (when --location is not given)")
	device := fs.Bool("device", false, "fill request.device from the User-Agent header")
	status := fs.Int("response-status", 0, "origin response status (default 200)")
	respBody := fs.String("response-body", "", "origin response body")
	asJSON := fs.Bool("json", false, "print JSON")
	var headers, vars, respHeaders headerFlags
	fs.Var(&headers, "H", "request header 'Name: value' (repeatable)")
	fs.Var(&vars, "var", "PMUSER variable NAME=value (repeatable)")
	fs.Var(&respHeaders, "response-header", "origin response header 'Name: value' (repeatable)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, workerUsage)
		return 2
	}
	only := script.NumHandlers
	if *handler != "all" {
		h, ok := script.HandlerByName(*handler)
		if !ok {
			fmt.Fprintf(stderr, "edgegate worker test: unknown handler %q\n", *handler)
			return 2
		}
		only = h
	}
	tier, ok := script.TierByName(*tierName)
	if !ok {
		fmt.Fprintf(stderr, "edgegate worker test: unknown tier %q (basic, dynamic or enterprise)\n", *tierName)
		return 2
	}

	var rf workerRequestFile
	if *reqFile != "" {
		data, err := os.ReadFile(*reqFile)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate worker test: %v\n", err)
			return 2
		}
		if err := json.Unmarshal(data, &rf); err != nil {
			fmt.Fprintf(stderr, "edgegate worker test: %s: %v\n", *reqFile, err)
			return 2
		}
	}
	// Command-line flags win over the file.
	pick := func(flagV, fileV, def string) string {
		if flagV != "" {
			return flagV
		}
		if fileV != "" {
			return fileV
		}
		return def
	}
	u, err := url.Parse(pick(*rawURL, rf.URL, "https://www.example.com/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "edgegate worker test: URL %q: want an absolute http:// or https:// URL\n", pick(*rawURL, rf.URL, ""))
		return 2
	}
	req := &script.Request{
		Method: strings.ToUpper(pick(*method, rf.Method, "GET")), Scheme: u.Scheme, Host: strings.ToLower(u.Host),
		Path: u.EscapedPath(), Query: u.RawQuery, ClientIP: pick(*clientIP, rf.ClientIP, "192.0.2.1"),
		Header: http.Header{}, Vars: script.NewVariables(tier.Variables), Body: []byte(pick(*body, rf.Body, "")),
		Location: rf.Location, Origins: func(string) bool { return true },
	}
	if req.Path == "" {
		req.Path = "/"
	}
	for k, vv := range rf.Headers {
		req.Header[textproto.CanonicalMIMEHeaderKey(k)] = vv
	}
	if err := addHeaders(req.Header, headers); err != nil {
		fmt.Fprintf(stderr, "edgegate worker test: %v\n", err)
		return 2
	}
	if *location != "" {
		req.Location = script.ParseLocation(*location)
	}
	if *geoFile != "" && req.Location == nil {
		db, err := script.OpenGeoDB(*geoFile)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate worker test: %v\n", err)
			return 2
		}
		ip, err := netip.ParseAddr(req.ClientIP)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate worker test: --client-ip %q: %v\n", req.ClientIP, err)
			return 2
		}
		req.Location = db.Lookup(ip)
	}
	if *device {
		req.Device = script.DeviceFromUA(req.Header.Get("User-Agent"))
	}
	names := make([]string, 0, len(rf.Variables))
	for k := range rf.Variables {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vars = append(headerFlags{k + "=" + rf.Variables[k]}, vars...)
	}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		if err := req.Vars.Set(k, v); err != nil {
			fmt.Fprintf(stderr, "edgegate worker test: --var %s: %v\n", kv, err)
			return 2
		}
	}
	origin := script.Origin{Status: *status, Header: http.Header{}, Body: []byte(*respBody)}
	if rf.Response != nil {
		if origin.Status == 0 {
			origin.Status = rf.Response.Status
		}
		for k, vv := range rf.Response.Headers {
			origin.Header[textproto.CanonicalMIMEHeaderKey(k)] = vv
		}
		if *respBody == "" {
			origin.Body = []byte(rf.Response.Body)
		}
	}
	if err := addHeaders(origin.Header, respHeaders); err != nil {
		fmt.Fprintf(stderr, "edgegate worker test: %v\n", err)
		return 2
	}

	var sub script.SubRequester = &script.ClientSub{Client: &http.Client{Timeout: 10 * time.Second}}
	if *kvFile != "" {
		store := edgekv.New(edgekv.Options{Token: *kvToken})
		if err := store.LoadFile(*kvFile); err != nil {
			fmt.Fprintf(stderr, "edgegate worker test: %v\n", err)
			return 2
		}
		sub = store.Intercept(sub)
	}
	req.Sub = sub

	b, err := script.LoadBundle(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	w, err := script.NewWorker(b, nil, script.Options{Tier: tier, Name: bundleName(pos[0])})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	tr := w.Simulate(ctx, req, origin, only)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(traceJSON(b, w, tr))
	} else {
		printTrace(stdout, b, w, tr)
	}
	if tr.Failed() {
		return 1
	}
	return 0
}

type handlerJSON struct {
	Handler     string                  `json:"handler"`
	Status      string                  `json:"status"`
	Error       string                  `json:"error,omitempty"`
	CPUMs       float64                 `json:"cpuMs"`
	WallMs      float64                 `json:"wallMs"`
	Memory      int64                   `json:"memoryBytes"`
	Logs        []string                `json:"logs"`
	Subrequests []script.SubrequestInfo `json:"subrequests,omitempty"`
}

type traceOut struct {
	Bundle   string        `json:"bundle"`
	Version  string        `json:"version"`
	Tier     string        `json:"tier"`
	InitMs   float64       `json:"initMs"`
	Handlers []handlerJSON `json:"handlers"`
	Request  struct {
		Method       string            `json:"method"`
		URL          string            `json:"url"`
		Header       http.Header       `json:"headers"`
		Route        map[string]string `json:"route,omitempty"`
		CacheKey     *script.CacheKey  `json:"cacheKey,omitempty"`
		OriginHeader http.Header       `json:"originHeaders,omitempty"`
		Variables    map[string]string `json:"variables"`
	} `json:"request"`
	Response struct {
		Source string      `json:"source"`
		Status int         `json:"status"`
		Header http.Header `json:"headers"`
		Body   string      `json:"body"`
	} `json:"response"`
}

// bundleName is the bundle's file or directory name without extension.
func bundleName(p string) string {
	p = filepath.Base(strings.TrimRight(p, "/"))
	for _, ext := range []string{".tgz", ".tar.gz"} {
		p = strings.TrimSuffix(p, ext)
	}
	return p
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func traceJSON(b *script.Bundle, w *script.Worker, tr *script.Trace) *traceOut {
	out := &traceOut{Bundle: bundleName(b.Source), Version: b.Version, Tier: w.Tier().Name, InitMs: msOf(w.InitTime())}
	for _, r := range tr.Results {
		hj := handlerJSON{Handler: r.Handler.String(), Status: r.Status, CPUMs: msOf(r.CPU), WallMs: msOf(r.Wall), Memory: r.Memory, Logs: []string{}, Subrequests: r.Subrequests}
		if r.Err != nil {
			hj.Error = r.Err.Error()
		}
		for _, l := range r.Logs {
			hj.Logs = append(hj.Logs, fmt.Sprintf("%c %s:%d %s", l.Level, l.File, l.Line, l.Msg))
		}
		out.Handlers = append(out.Handlers, hj)
	}
	req := tr.Request
	out.Request.Method, out.Request.URL, out.Request.Header = req.Method, requestURL(req), req.Header
	if rc := req.Route; rc != nil {
		out.Request.Route = map[string]string{}
		for k, p := range map[string]*string{"origin": rc.Origin, "path": rc.Path, "query": rc.Query} {
			if p != nil {
				out.Request.Route[k] = *p
			}
		}
	}
	if req.CacheKey.Changed() {
		out.Request.CacheKey = &req.CacheKey
	}
	out.Request.OriginHeader = tr.OriginHeader
	out.Request.Variables = map[string]string{}
	for _, n := range req.Vars.Names() {
		out.Request.Variables[n], _ = req.Vars.Get(n)
	}
	out.Response.Source, out.Response.Status, out.Response.Header, out.Response.Body = tr.Source, tr.Status, tr.Header, string(tr.Body)
	return out
}

func requestURL(r *script.Request) string {
	u := r.Scheme + "://" + r.Host + r.Path
	if r.Query != "" {
		u += "?" + r.Query
	}
	return u
}

func printHeader(w io.Writer, indent string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(w, "%s%s: %s\n", indent, k, v)
		}
	}
}

func printTrace(w io.Writer, b *script.Bundle, wk *script.Worker, tr *script.Trace) {
	o := traceJSON(b, wk, tr)
	fmt.Fprintf(w, "bundle %s v%s (tier %s, init %.3f ms)\n", o.Bundle, o.Version, o.Tier, o.InitMs)
	fmt.Fprintln(w, "handlers:")
	if len(o.Handlers) == 0 {
		fmt.Fprintln(w, "  (none ran)")
	}
	for _, h := range o.Handlers {
		fmt.Fprintf(w, "  %-17s %-10s cpu=%.3fms wall=%.3fms memory=%dB\n", h.Handler, h.Status, h.CPUMs, h.WallMs, h.Memory)
		if h.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", h.Error)
		}
		for _, l := range h.Logs {
			fmt.Fprintf(w, "    log %s\n", l)
		}
		for _, s := range h.Subrequests {
			fmt.Fprintf(w, "    sub-request %s %s -> %d (%.3fms)\n", s.Method, s.URL, s.Status, msOf(s.Duration))
		}
	}
	fmt.Fprintf(w, "request: %s %s\n", o.Request.Method, o.Request.URL)
	printHeader(w, "  ", o.Request.Header)
	if r := o.Request.Route; r != nil {
		keys := []string{}
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  route %s=%s\n", k, r[k])
		}
	}
	if k := o.Request.CacheKey; k != nil {
		fmt.Fprintf(w, "  cacheKey query=%s args=%v cookies=%v headers=%v variables=%v\n", k.QueryString, k.QueryArgs, k.Cookies, k.Headers, k.Variables)
	}
	if o.Request.OriginHeader != nil {
		fmt.Fprintln(w, "origin request headers:")
		printHeader(w, "  ", o.Request.OriginHeader)
	}
	fmt.Fprintln(w, "variables:")
	for _, n := range tr.Request.Vars.Names() {
		v, _ := tr.Request.Vars.Get(n)
		fmt.Fprintf(w, "  %s=%s\n", n, v)
	}
	fmt.Fprintf(w, "response: %d (from %s)\n", o.Response.Status, o.Response.Source)
	printHeader(w, "  ", o.Response.Header)
	if o.Response.Body != "" {
		body := o.Response.Body
		if len(body) > 2048 {
			body = body[:2048] + "… (" + strconv.Itoa(len(o.Response.Body)) + " bytes)"
		}
		fmt.Fprintf(w, "\n%s\n", body)
	}
}

func runWorkerActivate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("worker activate", stderr)
	file := fs.String("c", "", "configuration file")
	bundle := fs.String("bundle", "", "bundle name (required)")
	version := fs.String("version", "", "version id to make active (required)")
	network := fs.String("network", "", "production or staging (default: the network the config serves)")
	admin := fs.String("admin", "", "admin URL of a running gateway, e.g. http://127.0.0.1:9901 (switches at once)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return 2
	}
	if *bundle == "" || *version == "" || (*file == "" && *admin == "") {
		fmt.Fprintln(stderr, workerUsage)
		return 2
	}
	if *network != "" && *network != "production" && *network != "staging" {
		fmt.Fprintln(stderr, "edgegate worker activate: --network must be production or staging")
		return 2
	}
	if *admin != "" {
		q := url.Values{"bundle": {*bundle}, "version": {*version}}
		if *network != "" {
			q.Set("network", *network)
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, strings.TrimRight(*admin, "/")+"/scripts/activate?"+q.Encode(), nil)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate worker activate: %v\n", err)
			return 2
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(stderr, "edgegate worker activate: %v\n", err)
			return 1
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(stderr, "edgegate worker activate: %s: %s\n", resp.Status, strings.TrimSpace(string(msg)))
			return 1
		}
		fmt.Fprintf(stdout, "activated %s version %s (live, via %s)\n", *bundle, *version, *admin)
		return 0
	}
	cfg, err := config.Load(*file)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	b := cfg.Scripts.Bundle(*bundle)
	if b == nil {
		fmt.Fprintf(stderr, "edgegate worker activate: %s has no bundle %q\n", *file, *bundle)
		return 1
	}
	if b.Version(*version) == nil {
		ids := []string{}
		for _, v := range b.Versions {
			ids = append(ids, v.ID)
		}
		fmt.Fprintf(stderr, "edgegate worker activate: bundle %q has no version %q (loaded: %s); the active version is unchanged\n", *bundle, *version, strings.Join(ids, ", "))
		return 1
	}
	nw := *network
	if nw == "" {
		nw = cfg.Scripts.Network
	}
	if err := gateway.WriteActivation(cfg.Scripts.ActivationFile, nw, *bundle, *version); err != nil {
		fmt.Fprintf(stderr, "edgegate worker activate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "activated %s version %s on %s in %s (a running gateway applies it at its next reload; use --admin to switch at once)\n", *bundle, *version, nw, cfg.Scripts.ActivationFile)
	return 0
}
