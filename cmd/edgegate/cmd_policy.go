package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/gateway"
	"github.com/edgegate/edgegate/internal/hygiene"
	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/policy"
	"github.com/edgegate/edgegate/internal/route"
)

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: edgegate policy test [-v] CONFIG | X_test.yaml... | -c CONFIG [TESTS...]\n       edgegate policy explain -c CONFIG --url URL [--method M] [--identity FILE|JSON] [--header 'Name: value']...")
		return 2
	}
	switch args[0] {
	case "test":
		return runPolicyTest(args[1:], stdout, stderr)
	case "explain":
		return runPolicyExplain(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "edgegate policy: unknown subcommand %q (test or explain)\n", args[0])
	return 2
}

// policyWorld is a configuration compiled for offline decisions: the
// same router and policy the gateway builds.
type policyWorld struct {
	cfg   *config.Config
	table *route.Table
	set   *policy.Set
}

func loadPolicyWorld(file string) (*policyWorld, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	table, err := route.Compile(cfg.Routes, cfg.Positions)
	if err != nil {
		return nil, err
	}
	set, err := gateway.CompilePolicy(cfg, policy.NewCache(nil))
	if err != nil {
		return nil, err
	}
	return &policyWorld{cfg: cfg, table: table, set: set}, nil
}

// outcome is one offline decision.
type outcome struct {
	route    string
	decision policy.Decision
	ident    *identity.Identity
	trace    []policy.RuleResult
}

// decide routes the request as the gateway would (normalized path,
// lower-case host) and applies roles and rules.
func (w *policyWorld) decide(req policy.TestRequest, id *identity.Identity, now time.Time, explain bool) (*outcome, error) {
	u, err := url.Parse(req.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("request url %q: want an absolute http or https URL", req.URL)
	}
	p, err := hygiene.NormalizePath(u.EscapedPath())
	if err != nil {
		return nil, fmt.Errorf("request url %q: the gateway would refuse this path: %v", req.URL, err)
	}
	if p == "" {
		p = "/"
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	h := http.Header{}
	for k, v := range req.Headers {
		h.Add(k, v)
	}
	ip := netip.MustParseAddr("127.0.0.1")
	if req.ClientIP != "" {
		if ip, err = netip.ParseAddr(req.ClientIP); err != nil {
			return nil, fmt.Errorf("client_ip: %w", err)
		}
	}
	host := strings.ToLower(u.Hostname())
	rt := w.table.Match(&route.Request{Host: host, Path: p, Method: method, Header: h})
	if rt == nil {
		return nil, fmt.Errorf("no route matches %s %s", method, req.URL)
	}
	rules := w.set.Route(rt.Config.Index)
	o := &outcome{route: rt.Name(), ident: id}
	var derived *identity.Identity
	if explain {
		derived, o.trace, err = w.set.Roles.ExplainDerive(id)
	} else {
		derived, err = w.set.Roles.Derive(id)
	}
	if err != nil {
		var de *policy.DeriveError
		rule := ""
		if errors.As(err, &de) {
			rule = de.Rule
		}
		o.decision = policy.Decision{Reason: policy.ReasonEvalError, Rule: rule, Err: err}
		return o, nil
	}
	o.ident = derived
	in := &policy.Input{Identity: derived, Time: now, Request: policy.Request{
		Method: method, Host: host, Path: p, RawQuery: u.RawQuery, Scheme: u.Scheme, ClientIP: ip, Header: h}}
	if explain {
		var trace []policy.RuleResult
		o.decision, trace = rules.Explain(in)
		o.trace = append(o.trace, trace...)
	} else {
		o.decision = rules.Decide(in)
	}
	return o, nil
}

// defaultPolicyConfig is the configuration policy commands use when none
// is named.
const defaultPolicyConfig = "edgegate.yaml"

func runPolicyTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("policy test", stderr)
	file := fs.String("c", "", "configuration file (default: the CONFIG argument; X.yaml beside X_test.yaml; else ./"+defaultPolicyConfig+")")
	verbose := fs.Bool("v", false, "print every case, not only failures")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: edgegate policy test [-v] CONFIG             run CONFIG's policy.tests_file
       edgegate policy test [-v] X_test.yaml...     run each against X.yaml (or X.yml) beside it
       edgegate policy test [-v] -c CONFIG [TESTS...]
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	runs, code, err := planPolicyTests(*file, fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "edgegate policy test: %v\n", err)
		return code
	}
	failed := false
	now := time.Now()
	worlds := map[string]*policyWorld{}
	for _, r := range runs {
		w := worlds[r.config]
		if w == nil {
			if w, err = loadPolicyWorld(r.config); err != nil {
				fmt.Fprintf(stderr, "edgegate policy test: %v\n", err)
				return 1
			}
			worlds[r.config] = w
		}
		tests := r.tests
		if len(tests) == 0 {
			if w.cfg.Policy.TestsFile == "" {
				fmt.Fprintf(stderr, "edgegate policy test: %s sets no policy.tests_file; name test files, or set it\n", r.config)
				return 2
			}
			tests = []string{w.cfg.Policy.TestsFile}
		}
		for _, f := range tests {
			if !runTestFile(w, f, now, *verbose, stdout) {
				failed = true
			}
		}
	}
	if failed {
		return 1
	}
	return 0
}

// policyRun is one configuration and the test files to run against it
// (none: its policy.tests_file).
type policyRun struct {
	config string
	tests  []string
}

// planPolicyTests pairs test files with configurations. With -c (config)
// every argument is a test file. Without it, an argument that is a
// configuration (a YAML mapping, where test files are lists) runs its own
// tests_file, or the test files after it; a test file X_test.yaml runs
// against X.yaml or X.yml beside it; other test files, and no arguments at
// all, use ./edgegate.yaml. The code is the exit status for err.
func planPolicyTests(config string, args []string) ([]policyRun, int, error) {
	if config != "" {
		return []policyRun{{config: config, tests: args}}, 0, nil
	}
	if len(args) == 0 {
		if _, err := os.Stat(defaultPolicyConfig); err != nil {
			return nil, 2, fmt.Errorf("no configuration: looked for ./%s; name one (edgegate policy test CONFIG), or a test file X_test.yaml beside its X.yaml", defaultPolicyConfig)
		}
		return []policyRun{{config: defaultPolicyConfig}}, 0, nil
	}
	isConfig, err := isConfigFile(args[0])
	if err != nil {
		return nil, 1, err
	}
	if isConfig {
		return []policyRun{{config: args[0], tests: args[1:]}}, 0, nil
	}
	var runs []policyRun
	for _, tf := range args {
		cfg, err := configBeside(tf)
		if err != nil {
			return nil, 2, err
		}
		if n := len(runs); n > 0 && runs[n-1].config == cfg {
			runs[n-1].tests = append(runs[n-1].tests, tf)
			continue
		}
		runs = append(runs, policyRun{config: cfg, tests: []string{tf}})
	}
	return runs, 0, nil
}

// isConfigFile tells a configuration (a YAML mapping) from a test file (a
// list). A file that is neither is left to the test runner to report.
func isConfigFile(name string) (bool, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return false, nil
	}
	return doc.Content[0].Kind == yaml.MappingNode, nil
}

// configBeside finds the configuration a test file belongs to: X.yaml or
// X.yml beside X_test.yaml (or X_test.yml), else ./edgegate.yaml.
func configBeside(testFile string) (string, error) {
	var looked []string
	for _, suffix := range []string{"_test.yaml", "_test.yml"} {
		if base, ok := strings.CutSuffix(testFile, suffix); ok {
			looked = append(looked, base+".yaml", base+".yml")
			break
		}
	}
	looked = append(looked, defaultPolicyConfig)
	for _, c := range looked {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			return c, nil
		}
	}
	for i, c := range looked {
		if c == defaultPolicyConfig {
			looked[i] = "./" + c
		}
	}
	return "", fmt.Errorf("%s: which configuration does it test? looked for %s; name it with -c CONFIG", testFile, strings.Join(looked, ", "))
}

// runTestFile runs one file's cases and reports like go test.
func runTestFile(w *policyWorld, file string, now time.Time, verbose bool, out io.Writer) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(out, "FAIL\t%s\t%v\n", file, err)
		return false
	}
	cases, err := policy.ParseTests(data)
	if err != nil {
		fmt.Fprintf(out, "FAIL\t%s\t%s\n", file, strings.ReplaceAll(err.Error(), "\n", "\n\t"))
		return false
	}
	fails := 0
	for _, tc := range cases {
		msg := checkCase(w, &tc, now)
		switch {
		case msg != "":
			fails++
			fmt.Fprintf(out, "--- FAIL: %s (%s:%d)\n    %s\n", tc.Name, file, tc.Line, msg)
		case verbose:
			fmt.Fprintf(out, "--- PASS: %s\n", tc.Name)
		}
	}
	if fails > 0 {
		fmt.Fprintf(out, "FAIL\t%s\t%d of %d cases failed\n", file, fails, len(cases))
		return false
	}
	fmt.Fprintf(out, "ok  \t%s\t%d cases\n", file, len(cases))
	return true
}

// checkCase returns "" when the case passes, or why it fails.
func checkCase(w *policyWorld, tc *policy.TestCase, now time.Time) string {
	t, _ := tc.DecisionTime(now)
	o, err := w.decide(tc.Request, tc.Identity.Identity(), t, false)
	if err != nil {
		return err.Error()
	}
	d := o.decision
	got := describeDecision(d)
	want := tc.Expect
	switch {
	case decisionLabel(d.Allow) != want.Decision,
		want.Reason != "" && string(d.Reason) != want.Reason,
		want.Rule != "" && d.Rule != want.Rule:
		var parts []string
		if want.Reason != "" {
			parts = append(parts, "reason "+want.Reason)
		}
		if want.Rule != "" {
			parts = append(parts, "rule "+want.Rule)
		}
		exp := want.Decision
		if len(parts) > 0 {
			exp += " (" + strings.Join(parts, ", ") + ")"
		}
		return fmt.Sprintf("route %s: got %s, want %s", o.route, got, exp)
	}
	return ""
}

func decisionLabel(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}

func describeDecision(d policy.Decision) string {
	s := decisionLabel(d.Allow) + " (" + string(d.Reason)
	if d.Rule != "" {
		s += ": " + d.Rule
	}
	s += ")"
	if d.Err != nil {
		s += ": " + d.Err.Error()
	}
	return s
}

func runPolicyExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("policy explain", stderr)
	file := fs.String("c", defaultPolicyConfig, "configuration file")
	rawURL := fs.String("url", "", "request URL (required), such as https://api.example.com/billing/x")
	method := fs.String("method", "GET", "request method")
	ident := fs.String("identity", "", "identity as JSON, or a file holding it (YAML or JSON; fields as in test files); default anonymous")
	clientIP := fs.String("client-ip", "127.0.0.1", "client address")
	at := fs.String("time", "", "decision time, RFC 3339 (default now)")
	var headers headerFlags
	fs.Var(&headers, "header", "request header 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *rawURL == "" {
		fmt.Fprintln(stderr, "edgegate policy explain: --url is required")
		return 2
	}
	w, err := loadPolicyWorld(*file)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate policy explain: %v\n", err)
		return 1
	}
	tc := policy.TestCase{Request: policy.TestRequest{Method: *method, URL: *rawURL, ClientIP: *clientIP, Headers: map[string]string{}}, Time: *at}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Fprintf(stderr, "edgegate policy explain: --header %q: want 'Name: value'\n", h)
			return 2
		}
		tc.Request.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if *ident != "" {
		if tc.Identity, err = readIdentity(*ident); err != nil {
			fmt.Fprintf(stderr, "edgegate policy explain: --identity: %v\n", err)
			return 2
		}
	}
	now, err := tc.DecisionTime(time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "edgegate policy explain: --time: %v\n", err)
		return 2
	}
	o, err := w.decide(tc.Request, tc.Identity.Identity(), now, true)
	if err != nil {
		fmt.Fprintf(stderr, "edgegate policy explain: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "route:    %s\n", o.route)
	id := o.ident
	fmt.Fprintf(stdout, "identity: %s", id.Method)
	if id.Subject != "" {
		fmt.Fprintf(stdout, " %s", id.Subject)
	}
	if id.ServiceName != "" {
		fmt.Fprintf(stdout, " (service %s)", id.ServiceName)
	}
	fmt.Fprintf(stdout, "\nroles:    %s\n", strings.Join(id.Roles, ", "))
	for _, r := range o.trace {
		res := r.Result
		if r.Err != nil {
			res += ": " + r.Err.Error()
		}
		fmt.Fprintf(stdout, "  %-7s %-40s %s\n          %s\n", r.Effect, r.Name, res, r.Expr)
	}
	fmt.Fprintf(stdout, "decision: %s\n", describeDecision(o.decision))
	return 0
}

// readIdentity takes inline JSON or YAML, or a file holding either.
func readIdentity(s string) (*policy.TestIdentity, error) {
	data := []byte(s)
	if t := strings.TrimSpace(s); !strings.HasPrefix(t, "{") {
		var err error
		if data, err = os.ReadFile(s); err != nil {
			return nil, err
		}
	}
	var ti policy.TestIdentity
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&ti); err != nil {
		return nil, fmt.Errorf("not an identity: %v", err)
	}
	return &ti, nil
}
