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
// there must pass here, a "check" test recorded "yes" must still say yes
// (the behaviour it asks about is one edgegate chose), the Authorization,
// private and no-store tests must pass, and at most 10 required tests may
// fail. compare.sh runs the same suite against nginx for the comparison
// table.
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

	regressions := conformanceRegressions(baseline.Edgegate.Tests, sum.Tests)
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

// conformanceRegressions lists the tests of now that fall short of was:
// a recorded pass or yes must stay what it was (table.mjs applies the same
// rule to compare.sh runs).
func conformanceRegressions(was, now map[string]string) []string {
	var out []string
	for id, w := range was {
		if (w == "pass" || w == "yes") && now[id] != w {
			got := now[id]
			if got == "" {
				got = "missing"
			}
			out = append(out, id+": "+w+" -> "+got)
		}
	}
	return out
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

// TestConformanceRegressionRules: both guards, this test's and
// table.mjs's (compare.sh), treat a recorded pass or yes as must-stay and
// nothing else.
func TestConformanceRegressionRules(t *testing.T) {
	was := map[string]string{"a": "pass", "b": "yes", "c": "no", "d": "required_fail", "e": "pass", "f": "yes"}
	for _, tc := range []struct {
		name string
		now  map[string]string
		want []string
	}{
		{"unchanged", map[string]string{"a": "pass", "b": "yes", "c": "no", "d": "required_fail", "e": "pass", "f": "yes"}, nil},
		{"improvements", map[string]string{"a": "pass", "b": "yes", "c": "yes", "d": "pass", "e": "pass", "f": "yes"}, nil},
		{"pass lost", map[string]string{"a": "required_fail", "b": "yes", "c": "no", "d": "required_fail", "e": "dependency_fail", "f": "yes"},
			[]string{"a: pass -> required_fail", "e: pass -> dependency_fail"}},
		{"yes lost", map[string]string{"a": "pass", "b": "no", "c": "no", "d": "required_fail", "e": "pass"},
			[]string{"b: yes -> no", "f: yes -> missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := conformanceRegressions(was, tc.now)
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Go guard: %q, want %q", got, tc.want)
			}
			// table.mjs on the same summaries.
			node, err := exec.LookPath("node")
			if err != nil {
				t.Fatalf("node not found: run scripts/test-all: %v", err)
			}
			dir := t.TempDir()
			summary := func(tests map[string]string) map[string]any {
				return map[string]any{"totals": map[string]int{}, "categories": map[string]any{}, "tests": tests}
			}
			write := func(name string, v any) string {
				b, _ := json.Marshal(v)
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			base := write("baseline.json", map[string]any{"edgegate": summary(was), "nginx": summary(nil)})
			out, err := exec.Command(node, "../../e2e/cache-conformance/table.mjs", base, write("eg.json", summary(tc.now)), write("nginx.json", summary(nil))).CombinedOutput()
			if failed := err != nil; failed != (len(tc.want) > 0) {
				t.Errorf("table.mjs failed = %v, want %v:\n%s", failed, len(tc.want) > 0, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("table.mjs does not name %q:\n%s", w, out)
				}
			}
		})
	}
}
