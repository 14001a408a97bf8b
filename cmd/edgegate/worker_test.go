package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testBundle finds a bundle: the shipped example of that name when there
// is one, else a test-only bundle.
func testBundle(name string) string {
	if p := filepath.Join("..", "..", "examples", "edgeworkers", name); dirExists(p) {
		return p
	}
	return filepath.Join("..", "..", "internal", "script", "testdata", "bundles", name)
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// writeBundle writes a bundle directory with main.js and a bundle.json of
// version v.
func writeBundle(t *testing.T, dir, v, mainJS string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.json"), []byte(`{"edgeworker-version":"`+v+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte(mainJS), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const allHandlersJS = `
import { logger } from 'log';
export function onClientRequest(request) {
  logger.info('path %s', request.path);
  request.setHeader('X-From-CR', request.getVariable('PMUSER_IN') || 'none');
  request.setVariable('PMUSER_SEEN', request.userLocation ? request.userLocation.country : 'nowhere');
  request.cacheKey.includeHeader('X-Tenant');
}
export function onOriginRequest(request) { request.setHeader('X-From-OR', 'yes'); }
export function onOriginResponse(request, response) {
  if (response.status === 503) response.status = 502;
  response.setHeader('X-Origin-Was', String(response.getHeader('X-Up')));
}
export function onClientResponse(request, response) {
  if (request.getHeader('X-Boom')) throw new Error('boom in onClientResponse');
  response.setHeader('X-Seen', request.getVariable('PMUSER_SEEN'));
}
`

func TestWorkerTest(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "the cat sat on "+r.URL.Path)
	}))
	defer origin.Close()
	dir := t.TempDir()
	all := writeBundle(t, filepath.Join(dir, "all"), "2.0", allHandlersJS)
	reqFile := filepath.Join(dir, "req.json")
	if err := os.WriteFile(reqFile, []byte(`{"method":"GET","url":"https://shop.example.com/cart?id=1","headers":{"X-Tenant":"acme","Accept":["a","b"]},
	  "variables":{"PMUSER_IN":"from-file"},"location":{"Country":"DE"},"response":{"status":503,"headers":{"X-Up":"no"},"body":"down"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"ab test route query", []string{"worker", "test", testBundle("ab-test"), "--url", "https://www.example.com/p?x=1", "-H", "Cookie: ab=b"}, 0,
			[]string{"onClientRequest   success", "onClientResponse  success", "route query=x=1&variant=b", "PMUSER_AB=b", "response: 200 (from origin)", "X-Ab: b"}},
		{"geo redirect by location", []string{"worker", "test", testBundle("geo-redirect"), "--location", "country=CH"}, 0,
			[]string{"response: 302 (from respondWith(onClientRequest))", "Location: https://www.example.com/ch/"}},
		{"flags after and before bundle", []string{"worker", "test", "--tier", "basic", all, "--var", "PMUSER_IN=cli", "--response-status", "503", "--response-header", "X-Up: yes"}, 0,
			[]string{"tier basic", "X-From-Cr: cli", "X-From-Or: yes", "response: 502 (from origin)", "X-Origin-Was: yes", "X-Seen: nowhere", "log I main.js:4 path /", "cacheKey query= args=[] cookies=[] headers=[X-Tenant]"}},
		{"request file", []string{"worker", "test", all, "--request", reqFile}, 0,
			[]string{"request: GET https://shop.example.com/cart?id=1", "X-From-Cr: from-file", "PMUSER_SEEN=DE", "response: 502 (from origin)", "X-Origin-Was: no", "\ndown\n"}},
		{"one handler", []string{"worker", "test", all, "--handler", "onOriginResponse", "--response-status", "503"}, 0,
			[]string{"onOriginResponse  success", "response: 502"}},
		{"edgekv redirect", []string{"worker", "test", filepath.Join("..", "..", "examples", "edgeworkers", "edgekv-redirect"), "--url", "https://www.example.com/old-page",
			"--edgekv", filepath.Join("..", "..", "examples", "edgeworkers", "edgekv-redirect", "kv.json"), "--edgekv-token", "local-test-token"}, 0,
			[]string{"sub-request GET https://edgekv.akamai-edge-svcs.net/api/v1/namespaces/redirects/groups/paths/items/old-page -> 200", "response: 301 (from respondWith(onClientRequest))", "Location: /new-page", "X-Redirect-Hits: 1"}},
		{"edgekv wrong token", []string{"worker", "test", filepath.Join("..", "..", "examples", "edgeworkers", "edgekv-redirect"), "--url", "https://www.example.com/old-page",
			"--edgekv", filepath.Join("..", "..", "examples", "edgeworkers", "edgekv-redirect", "kv.json"), "--edgekv-token", "other"}, 0,
			[]string{"-> 403", "log E main.js:", "PMUSER_EKV_ERROR=403", "response: 200 (from origin)"}},
		{"streaming find-replace", []string{"worker", "test", filepath.Join("..", "..", "examples", "edgeworkers", "find-replace"), "--url", origin.URL + "/cats/catalog", "--var", "PMUSER_FIND=cat"}, 0,
			[]string{"responseProvider  success", "sub-request GET " + origin.URL + "/data/catalog -> 200", "response: 200 (from responseProvider)", "X-Rewritten: true", "\nthe dog sat on /data/dogalog\n"}},
		{"failing provider falls back", []string{"worker", "test", filepath.Join("..", "..", "examples", "edgeworkers", "find-replace"), "--url", "http://127.0.0.1:1/x"}, 1,
			[]string{"responseProvider  runtimeError", "connection refused", "response: 200 (from origin)"}},
		{"geoip and device", []string{"worker", "test", all, "--geoip", filepath.Join("..", "..", "internal", "config", "testdata", "valid", "geo.mmdb"), "--client-ip", "198.51.100.7", "--device", "-H", "User-Agent: Mozilla/5.0 (iPad; CPU OS 16_0)"}, 0,
			[]string{"PMUSER_SEEN=CH"}},
		{"a throwing handler fails", []string{"worker", "test", all, "-H", "X-Boom: 1"}, 1,
			[]string{"onClientResponse  runtimeError", "error: Error: boom in onClientResponse", "response: 500 (from failure(onClientResponse))"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr: %s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(strings.Join(tc.args, " "), "--handler") && strings.Contains(out, "onClientRequest") {
				t.Errorf("--handler ran other handlers:\n%s", out)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		code, out, errOut := runCmd(t, "worker", "test", all, "--json", "--var", "PMUSER_IN=j", "--url", "http://h.example/x")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got struct {
			Version  string
			Handlers []struct {
				Handler, Status string
				Logs            []string
			}
			Request struct {
				URL           string
				OriginHeaders http.Header
				Variables     map[string]string
			}
			Response struct {
				Status int
				Source string
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if got.Version != "2.0" || len(got.Handlers) != 4 || got.Handlers[0].Logs[0] != "I main.js:4 path /x" ||
			got.Request.URL != "http://h.example/x" || got.Request.OriginHeaders.Get("X-From-Or") != "yes" ||
			got.Request.Variables["PMUSER_SEEN"] != "nowhere" || got.Response.Status != 200 || got.Response.Source != "origin" {
			t.Errorf("unexpected trace: %+v", got)
		}
	})

	bad := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no bundle", []string{"worker", "test"}, 2, "usage:"},
		{"unknown handler", []string{"worker", "test", all, "--handler", "onNothing"}, 2, "unknown handler"},
		{"unknown tier", []string{"worker", "test", all, "--tier", "huge"}, 2, "unknown tier"},
		{"bad header", []string{"worker", "test", all, "-H", "novalue"}, 2, "want 'Name: value'"},
		{"bad variable", []string{"worker", "test", all, "--var", "X=1"}, 2, "must start with PMUSER_"},
		{"bad geoip", []string{"worker", "test", all, "--geoip", reqFile}, 2, "geo database"},
		{"relative url", []string{"worker", "test", all, "--url", "/x"}, 2, "absolute"},
		{"missing bundle", []string{"worker", "test", filepath.Join(dir, "nope")}, 1, "nope"},
		{"syntax error", []string{"worker", "test", writeBundle(t, filepath.Join(dir, "bad"), "1", "export function onClientRequest( {")}, 1, "main.js:1"},
		{"unknown subcommand", []string{"worker", "deploy"}, 2, "unknown subcommand"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}

// workerConfig writes a config with two versions of one bundle and
// returns its path.
func workerConfig(t *testing.T, listen, admin string) string {
	dir := t.TempDir()
	v1 := writeBundle(t, filepath.Join(dir, "v1"), "1.0", `export function onClientRequest(r) { r.respondWith(200, {'X-V': '1.0'}, 'one'); }`)
	v2 := writeBundle(t, filepath.Join(dir, "v2"), "2.0", `export function onClientRequest(r) { r.respondWith(200, {'X-V': '2.0'}, 'two'); }`)
	cfg := fmt.Sprintf(`version: 1
listeners: [{address: %q}]
admin: {address: %q}
log: {access: false}
pools: [{name: app, members: [http://127.0.0.1:9]}]
scripts:
  bundles: [{name: site, versions: [%q, %q], production: "2.0"}]
routes: [{name: all, match: {path_prefix: /}, pool: app, script: {bundle: site}}]
`, listen, admin, v1, v2)
	p := filepath.Join(dir, "edgegate.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExamplesValidate: the examples' configuration loads every bundle.
func TestExamplesValidate(t *testing.T) {
	code, out, errOut := runCmd(t, "validate", filepath.Join("..", "..", "examples", "edgeworkers", "edgegate.yaml"))
	if code != 0 || !strings.Contains(out, "ok (1 listeners, 1 pools, 10 routes)") {
		t.Errorf("validate examples: %d %q %q", code, out, errOut)
	}
}

func TestWorkerActivateFile(t *testing.T) {
	cfg := workerConfig(t, "127.0.0.1:1", "off")
	act := filepath.Join(filepath.Dir(cfg), "edgegate-activations.json")
	code, out, errOut := runCmd(t, "worker", "activate", "-c", cfg, "--bundle", "site", "--version", "1.0")
	if code != 0 || !strings.Contains(out, "activated site version 1.0 on production") {
		t.Fatalf("activate: %d %q %q", code, out, errOut)
	}
	want := map[string]map[string]string{"production": {"site": "1.0"}}
	checkActivations(t, act, want)
	// A version that does not exist leaves the file as it was.
	code, _, errOut = runCmd(t, "worker", "activate", "-c", cfg, "--bundle", "site", "--version", "3.0")
	if code != 1 || !strings.Contains(errOut, `no version "3.0" (loaded: 1.0, 2.0)`) {
		t.Errorf("unknown version: %d %q", code, errOut)
	}
	checkActivations(t, act, want)
	code, _, _ = runCmd(t, "worker", "activate", "-c", cfg, "--bundle", "site", "--version", "2.0", "--network", "staging")
	want["staging"] = map[string]string{"site": "2.0"}
	if code != 0 {
		t.Fatal("staging activation failed")
	}
	checkActivations(t, act, want)
	for _, args := range [][]string{
		{"worker", "activate", "--bundle", "site", "--version", "1.0"},
		{"worker", "activate", "-c", cfg, "--bundle", "site", "--version", "1.0", "--network", "dev"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCmd(t, "worker", "activate", "-c", cfg, "--bundle", "other", "--version", "1.0"); code != 1 || !strings.Contains(errOut, `no bundle "other"`) {
		t.Errorf("unknown bundle: %d %q", code, errOut)
	}
}

func checkActivations(t *testing.T, file string, want map[string]map[string]string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]string
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("activations %v, want %v", got, want)
	}
}

// TestWorkerActivateAdmin switches the version of a running gateway and
// rolls it back with the same command.
func TestWorkerActivateAdmin(t *testing.T) {
	gw, adm := freeAddr(t), freeAddr(t)
	cfg := workerConfig(t, gw, adm)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "-c", cfg}, &out, &errOut) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	version := func() string {
		resp, err := http.Get("http://" + gw + "/")
		if err != nil {
			return "down"
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("X-V") + "/" + string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", gw); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := version(); v != "2.0/two" {
		t.Fatalf("before activation: %s", v)
	}
	admin := "http://" + adm
	for _, v := range []string{"1.0", "2.0", "1.0"} {
		code, o, e := runCmd(t, "worker", "activate", "--admin", admin, "--bundle", "site", "--version", v)
		if code != 0 || !strings.Contains(o, "activated site version "+v) {
			t.Fatalf("activate %s: %d %q %q", v, code, o, e)
		}
		if got := version(); got != v+"/"+map[string]string{"1.0": "one", "2.0": "two"}[v] {
			t.Errorf("after activating %s: served %s", v, got)
		}
	}
	code, _, e := runCmd(t, "worker", "activate", "--admin", admin, "--bundle", "site", "--version", "9.9")
	if code != 1 || !strings.Contains(e, "400") || version() != "1.0/one" {
		t.Errorf("bad version: %d %q, serving %s", code, e, version())
	}
}
