package config

import "testing"

func TestValidateScripts(t *testing.T) {
	// scripts: is line 5, its first field line 6.
	s := func(body string) string { return base + "scripts:\n  " + body + "\n" }
	b := func(body string) string { return s("bundles:\n    - " + body) }
	runErrCases(t, []errCase{
		{"network", s("network: prod"), `scripts.network: must be "production" or "staging", got "prod"`, "6:12"},
		{"activation dir", s("activation_file: nowhere/a.json"), `scripts.activation_file: directory of`, "6:20"},
		{"location header", s("location_header: X_Geo"), `scripts.location_header: header name "X_Geo" contains "_"`, "6:20"},
		{"no name", b("{path: valid/edgeworkers/hello-1}"), "scripts.bundles[0]: name is required", "7:7"},
		{"bad name", b("{name: Hello, path: valid/edgeworkers/hello-1}"), `scripts.bundles[0].name: "Hello" must be lower-case`, "7:14"},
		{"tier", b("{name: h, path: valid/edgeworkers/hello-1, tier: gold}"), `scripts.bundles[0].tier: unknown tier "gold"; use basic, dynamic, enterprise`, "7:56"},
		{"no path", b("{name: h}"), "scripts.bundles[0]: path or versions is required", "7:7"},
		{"both", b("{name: h, path: valid/edgeworkers/hello-1, versions: [valid/edgeworkers/hello-2]}"), "scripts.bundles[0].versions: give path or versions, not both", "7:50"},
		{"missing dir", b("{name: h, path: nowhere}"), `scripts.bundles[0].path: load bundle testdata/nowhere`, "7:23"},
		{"syntax", b("{name: h, path: bundles-bad/syntax}"), `scripts.bundles[0].path: bundle "testdata/bundles-bad/syntax": main.js:2:26: SYNTAX_ERROR: Unexpected ";"`, "7:23"},
		{"duplicate version", b("{name: h, versions: [valid/edgeworkers/hello-1, valid/edgeworkers/hello-1]}"), `scripts.bundles[0].versions[1]: version "1.0" is listed twice`, "7:55"},
		{"production unknown", b("{name: h, path: valid/edgeworkers/hello-1, production: '9'}"), `scripts.bundles[0].production: no version "9"; the versions are "1.0"`, "7:62"},
		{"edgekv data missing", s("edgekv: {data_file: nowhere.json}"), `scripts.edgekv.data_file: open testdata/nowhere.json`, "6:23"},
		{"edgekv data empty", s("edgekv: {data_file: ''}"), `scripts.edgekv.data_file: must not be empty`, "6:23"},
		{"edgekv data bad", s("edgekv: {data_file: edgekv-bad.json}"), `scripts.edgekv.data_file: testdata/edgekv-bad.json: namespace "bad ns!": must be 1-32 characters`, "6:23"},
		{"edgekv namespace", s("edgekv: {namespaces: [ok, 'no/slash']}"), `scripts.edgekv.namespaces[1]: "no/slash" must be 1-32 characters`, "6:29"},
		{"edgekv token env", s("edgekv: {token_env: 'a b'}"), `scripts.edgekv.token_env: "a b" is not an environment variable name`, "6:23"},
		{"geoip missing", s("geoip_file: nowhere.mmdb"), `scripts.geoip_file: open testdata/nowhere.mmdb`, "6:15"},
		{"geoip not mmdb", s("geoip_file: edgekv-bad.json"), `scripts.geoip_file: geo database testdata/edgekv-bad.json`, "6:15"},
		{"staging unknown", b("{name: h, path: valid/edgeworkers/hello-1, staging: '9'}"), `scripts.bundles[0].staging: no version "9"`, "7:59"},
	})
}

func TestValidateRouteScript(t *testing.T) {
	bundles := "scripts: {bundles: [{name: h, path: valid/edgeworkers/hello-1}]}\n" // line 4
	r := func(body string) string {
		return head + pool + bundles + "routes:\n  - name: r\n    pool: app\n    script: " + body + "\n" // script on line 8
	}
	runErrCases(t, []errCase{
		{"no bundle", r("{version: '1.0'}"), "routes[0].script: bundle is required", "8:5"},
		{"unknown bundle", r("{bundle: x}"), `routes[0].script.bundle: no bundle "x" in scripts.bundles`, "8:22"},
		{"unknown version", r("{bundle: h, version: '2.0'}"), `routes[0].script.version: bundle "h" has no version "2.0"`, "8:34"},
		{"debug env", r("{bundle: h, debug_token_env: 'abc def'}"), `routes[0].script.debug_token_env: "abc def" is not an environment variable name`, "8:42"},
		{"variable prefix", r("{bundle: h, variables: {COUNTRY: CH}}"), `routes[0].script.variables.COUNTRY: variable name "COUNTRY" must start with PMUSER_`, "8:37"},
		{"variable budget", r("{bundle: h, variables: {PMUSER_A: '" + string(make([]byte, 0)) + longString(1100) + "'}}"), "exceed the 1024-character budget", "8:37"},
		{"origin pool", r("{bundle: h, origins: {svc: nope}}"), `routes[0].script.origins.svc: no pool "nope"`, "8:35"},
	})
}

func longString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	return string(b)
}

func TestRouteScriptValid(t *testing.T) {
	src := head + "pools: [{name: app, members: [\"http://127.0.0.1:9000\"]}, {name: beta, members: [\"http://127.0.0.1:9001\"]}]\n" +
		"scripts: {bundles: [{name: h, versions: [valid/edgeworkers/hello-1, valid/edgeworkers/hello-2]}]}\n" +
		"routes:\n  - name: r\n    pool: app\n    script: {bundle: h, version: '1.0', variables: {PMUSER_A: x}, origins: {svc: beta}}\n"
	cfg, err := LoadBytes(testFile, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Scripts.Bundle("h")
	if b == nil || len(b.Versions) != 2 || b.Production != "2.0" || b.Staging != "2.0" || b.Tier != "dynamic" {
		t.Fatalf("bundle = %+v", b)
	}
	if b.Version("1.0") == nil || b.Version("1.0").Hash == "" || b.Version("3.0") != nil {
		t.Error("Version lookup wrong")
	}
	rs := cfg.Routes[0].Script
	if rs.Bundle != "h" || rs.Version != "1.0" || len(rs.Variables) != 1 || rs.Origins["svc"] != "beta" {
		t.Errorf("route script = %+v", rs)
	}
	if cfg.Scripts.Network != "production" {
		t.Errorf("network = %q", cfg.Scripts.Network)
	}
}
