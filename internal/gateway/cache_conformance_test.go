package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/internal/testpeer"
)

// TestCacheConformance runs the external suite http-cache-tests@0.4.5
// (e2e/node_modules) against a public cached route and fails on any
// regression from e2e/cache-conformance/baseline.json: a test that passed
// there must pass here, the Authorization, private and no-store tests must
// pass, and at most 10 required tests may fail. compare.sh runs the same
// suite against nginx for the comparison table.
func TestCacheConformance(t *testing.T) {
	e2e, err := filepath.Abs("../../e2e")
	if err != nil {
		t.Fatal(err)
	}
	suite := filepath.Join(e2e, "node_modules", "http-cache-tests")
	if _, err := os.Stat(filepath.Join(suite, "cli.mjs")); err != nil {
		t.Fatalf("http-cache-tests is not installed (%v): run scripts/test-all (npm ci --prefix e2e)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: run scripts/test-all: %v", err)
	}
	var baseline struct {
		Edgegate struct {
			Tests map[string]string `json:"tests"`
		} `json:"edgegate"`
	}
	raw, err := os.ReadFile(filepath.Join(e2e, "cache-conformance", "baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &baseline); err != nil || len(baseline.Edgegate.Tests) == 0 {
		t.Fatalf("baseline.json: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := freePort(t)
	dir := t.TempDir()
	origin := exec.CommandContext(ctx, node, "server/server.mjs")
	origin.Dir = suite
	origin.Env = append(os.Environ(), "npm_config_protocol=http", "npm_config_port="+port, "npm_config_pidfile="+filepath.Join(dir, "origin.pid"))
	var originLog bytes.Buffer
	origin.Stdout, origin.Stderr = &originLog, &originLog
	if err := origin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = origin.Process.Kill()
		_ = origin.Wait()
	})
	waitListening(t, "127.0.0.1:"+port)

	tmpl, err := os.ReadFile(filepath.Join(e2e, "cache-conformance", "edgegate.yaml.in"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("@PORT@", "0", "@ORIGIN@", port).Replace(string(tmpl))
	tg := startGateway(t, cfg)

	cli := exec.CommandContext(ctx, node, "--no-warnings", "cli.mjs")
	cli.Dir = suite
	cli.Env = append(os.Environ(), "npm_config_base="+tg.url(""), "npm_package_config_id=")
	var stderr bytes.Buffer
	cli.Stderr = &stderr
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("http-cache-tests: %v\n%s", err, stderr.String())
	}
	results := filepath.Join(dir, "results.json")
	if err := os.WriteFile(results, out, 0o600); err != nil {
		t.Fatal(err)
	}
	sumOut, err := exec.CommandContext(ctx, node, filepath.Join(e2e, "cache-conformance", "summarize.mjs"), results).Output()
	if err != nil {
		t.Fatalf("summarize: %v", err)
	}
	var sum struct {
		Totals map[string]int    `json:"totals"`
		Tests  map[string]string `json:"tests"`
	}
	if err := json.Unmarshal(sumOut, &sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("edgegate: %v", sum.Totals)

	var regressions []string
	for id, was := range baseline.Edgegate.Tests {
		if was == "pass" && sum.Tests[id] != "pass" {
			regressions = append(regressions, id+": "+sum.Tests[id])
		}
	}
	for id, now := range sum.Tests {
		if (id == "other-authorization" || id == "cc-resp-private-shared" || strings.HasPrefix(id, "cc-resp-no-store")) && now != "pass" {
			regressions = append(regressions, id+": "+now+" (must pass)")
		}
	}
	sort.Strings(regressions)
	if len(regressions) > 0 {
		t.Errorf("regressions from baseline.json (rerun one with: cd e2e/node_modules/http-cache-tests && npm_config_base=URL npm_config_id=ID node cli.mjs):\n  %s", strings.Join(regressions, "\n  "))
	}
	if n := sum.Totals["required_fail"]; n > 10 {
		t.Errorf("%d required tests fail, at most 10 may", n)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := testpeer.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
