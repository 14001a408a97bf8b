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
// CI keeps the examples and the engine in step: each configuration alone
// (its policy.tests_file), and each test file alone (its X.yaml beside it).
func TestPolicyExamples(t *testing.T) {
	tests, err := filepath.Glob("../../examples/policies/*_test.yaml")
	if err != nil || len(tests) < 3 {
		t.Fatalf("example tests: %v %v", tests, err)
	}
	tests = append(tests, "../../examples/dev/policy_test.yaml")
	for _, tf := range tests {
		cfg := strings.TrimSuffix(tf, "_test.yaml") + ".yaml"
		for _, arg := range []string{cfg, tf} {
			t.Run(filepath.Base(arg), func(t *testing.T) {
				var out, errOut bytes.Buffer
				code := run(context.Background(), []string{"policy", "test", arg}, &out, &errOut)
				if code != 0 || !strings.HasPrefix(out.String(), "ok  \t"+filepath.Clean(tf)+"\t") {
					t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
				}
			})
		}
	}
}

// TestPolicyTestFindsConfig: without -c, the argument says which
// configuration to use, and a miss names every file looked for.
func TestPolicyTestFindsConfig(t *testing.T) {
	src, err := os.ReadFile("../../examples/policies/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := os.ReadFile("../../examples/policies/rbac_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	noTests := strings.Replace(string(src), "  tests_file: rbac_test.yaml\n", "", 1)
	if noTests == string(src) {
		t.Fatal("rbac.yaml no longer sets tests_file")
	}
	dir := t.TempDir()
	for name, data := range map[string]string{
		"rbac.yaml": string(src), "rbac_test.yaml": string(cases),
		"yml.yml": noTests, "yml_test.yml": string(cases),
		"bare.yaml": noTests, "orphan_test.yaml": string(cases), "cases.yaml": string(cases),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name string
		args []string
		code int
		out  []string // in order
		err  string
	}{
		{"config runs its tests_file", []string{in("rbac.yaml")}, 0, []string{"ok  \t" + in("rbac_test.yaml") + "\t8 cases\n"}, ""},
		{"config and test files", []string{in("bare.yaml"), in("cases.yaml"), in("rbac_test.yaml")}, 0,
			[]string{"ok  \t" + in("cases.yaml") + "\t8 cases\n", "ok  \t" + in("rbac_test.yaml") + "\t8 cases\n"}, ""},
		{"X_test.yaml finds X.yaml", []string{in("rbac_test.yaml")}, 0, []string{"ok  \t" + in("rbac_test.yaml")}, ""},
		{"X_test.yml finds X.yml", []string{in("yml_test.yml")}, 0, []string{"ok  \t" + in("yml_test.yml")}, ""},
		{"two test files, each its own config", []string{in("yml_test.yml"), in("rbac_test.yaml")}, 0,
			[]string{"ok  \t" + in("yml_test.yml"), "ok  \t" + in("rbac_test.yaml")}, ""},
		{"X_test.yaml without X.yaml", []string{in("orphan_test.yaml")}, 2, nil,
			in("orphan_test.yaml") + ": which configuration does it test? looked for " + in("orphan.yaml") + ", " + in("orphan.yml") + ", ./edgegate.yaml; name it with -c CONFIG"},
		{"test file not named X_test", []string{in("cases.yaml")}, 2, nil, "looked for ./edgegate.yaml; name it with -c CONFIG"},
		{"config without tests_file", []string{in("bare.yaml")}, 2, nil, in("bare.yaml") + " sets no policy.tests_file"},
		{"no arguments", nil, 2, nil, "no configuration: looked for ./edgegate.yaml"},
		{"missing file", []string{in("nope.yaml")}, 1, nil, "nope.yaml: no such file"},
		{"-c still names the configuration", []string{"-c", in("bare.yaml"), in("rbac_test.yaml")}, 0, []string{"ok  \t" + in("rbac_test.yaml")}, ""},
	}
	// ./edgegate.yaml is looked for in the working directory: one without it.
	t.Chdir(t.TempDir())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"policy", "test"}, tt.args...), &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out.String(), errOut.String())
			}
			rest := out.String()
			for _, w := range tt.out {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
			if !strings.Contains(errOut.String(), tt.err) {
				t.Errorf("stderr lacks %q:\n%s", tt.err, errOut.String())
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
