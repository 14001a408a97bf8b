package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyExamples runs the tests shipped with every example policy, so
// CI keeps the examples and the engine in step.
func TestPolicyExamples(t *testing.T) {
	tests, err := filepath.Glob("../../examples/policies/*_test.yaml")
	if err != nil || len(tests) < 3 {
		t.Fatalf("example tests: %v %v", tests, err)
	}
	for _, tf := range tests {
		t.Run(filepath.Base(tf), func(t *testing.T) {
			cfg := strings.TrimSuffix(tf, "_test.yaml") + ".yaml"
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"policy", "test", "-c", cfg, tf}, &out, &errOut)
			if code != 0 || !strings.HasPrefix(out.String(), "ok  \t") {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
			}
		})
	}
}

func TestPolicyTestReportsFailures(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "cases.yaml")
	if err := os.WriteFile(tf, []byte(`
- name: passes
  request: {url: https://docs.example.com/docs/a}
  identity: {subject: a, email: a@example.com}
  expect: {decision: allow}
- name: wrong expectation
  request: {url: https://docs.example.com/docs/a}
  identity: {subject: b, email: b@other.org}
  expect: {decision: allow, rule: readers}
- name: no route
  request: {url: https://docs.example.com/nothing}
  expect: {decision: deny}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"policy", "test", "-v", "-c", "../../examples/policies/rbac.yaml", tf}, &out, &errOut)
	got := out.String()
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"--- PASS: passes\n",
		"--- FAIL: wrong expectation (" + tf + ":6)\n    route docs: got deny (no_allow_rule), want allow (rule readers)\n",
		"--- FAIL: no route (" + tf + ":10)\n    no route matches GET https://docs.example.com/nothing\n",
		"FAIL\t" + tf + "\t2 of 3 cases failed\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestPolicyTestUsesTestsFile(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"policy", "test", "-c", "../../internal/config/testdata/valid/full-policy.yaml"}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "policy-tests.yml\t1 cases") {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

func TestPolicyExplain(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"deny wins", []string{"--url", "https://docs.example.com/docs/archive/x", "--method", "DELETE", "--identity", `{"subject": "u4", "groups": ["platform-admins"]}`}, 0,
			[]string{"route:    docs\n", "roles:    admin, editor\n", "  deny    archive-is-read-only                     true\n", "decision: deny (denied_by: archive-is-read-only)\n"}},
		{"anonymous", []string{"--url", "https://docs.example.com/admin/x"}, 0,
			[]string{"identity: anonymous\n", "decision: deny (no_allow_rule)\n"}},
		{"header", []string{"--url", "https://docs.example.com/docs/a", "--header", "X-A: b", "--identity", `{"subject": "a", "email": "a@example.com"}`}, 0,
			[]string{"decision: allow (allowed_by: readers)\n"}},
		{"bad identity", []string{"--url", "https://docs.example.com/docs/a", "--identity", `{"nope": 1}`}, 2, nil},
		{"no url", nil, 2, nil},
		{"no route", []string{"--url", "https://docs.example.com/zzz"}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"policy", "explain", "-c", "../../examples/policies/rbac.yaml"}, tt.args...)
			code := run(context.Background(), args, &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out.String(), errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
