package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidatePolicy(t *testing.T) {
	rules := func(s string) string { return head + pool + "routes:\n  - name: r\n    pool: app\n" + s }
	runErrCases(t, []errCase{
		{"unknown field in rule", rules("    allow:\n      - 'identity.subjekt == \"a\"'\n"),
			`routes[0].allow[0].expr: invalid CEL expression: 1:9: undefined field 'subjekt'`, "8:9"},
		{"unknown field in mapping form", rules("    deny:\n      - name: d\n        expr: 'request.methd == \"GET\"'\n"),
			`routes[0].deny[0].expr: invalid CEL expression: 1:8: undefined field 'methd'`, "9:15"},
		{"not a bool", rules("    allow: ['identity.email']\n"), "routes[0].allow[0].expr: invalid CEL expression: the expression returns string, not bool", "7:13"},
		{"syntax", rules("    allow: ['identity.email ==']\n"), "routes[0].allow[0].expr: invalid CEL expression: 1:18: Syntax error", "7:13"},
		{"over cost", rules("    allow: ['identity.groups.all(a, identity.groups.all(b, a + b != \"x\"))']\n"), "over the limit of 100000", "7:13"},
		{"unknown variable", rules("    allow: ['user.admin']\n"), "undeclared reference to 'user'", "7:13"},
		{"missing expr", rules("    allow: [{name: x}]\n"), "routes[0].allow[0].expr: required", "7:13"},
		{"bad rule name", rules("    allow: [{name: 'a b', expr: 'true'}]\n"), `routes[0].allow[0].name: invalid name "a b"`, "7:20"},
		{"duplicate rule name", rules("    deny: [{name: a, expr: 'true'}, {name: a, expr: 'false'}]\n"), `rule name "a" is already used by routes[0].deny[0]`, "7:44"},
		{"request in role", head + pool + route + "policy:\n  roles:\n    ops: 'request.method == \"GET\"'\n",
			"policy.roles.ops: invalid CEL expression: 1:1: undeclared reference to 'request' (roles and services see only identity", "7:5"},
		{"bad role name", head + pool + route + "policy:\n  roles:\n    'a b': 'true'\n", `policy.roles.a b: role name: invalid name "a b"`, "7:5"},
		{"service without name", head + pool + route + "policy:\n  services: [{match: 'identity.service'}]\n", "policy.services[0].name: required", "6:14"},
		{"service without match", head + pool + route + "policy:\n  services: [{name: s}]\n", "policy.services[0].match: required", "6:14"},
		{"service bad match", head + pool + route + "policy:\n  services: [{name: s, match: 'identity.client == 1'}]\n", "policy.services[0].match: invalid CEL expression: 1:9: undefined field 'client'", "6:31"},
		{"duplicate service", head + pool + route + "policy:\n  services: [{name: s, match: 'true'}, {name: s, match: 'false'}]\n", `service name "s" is already used by policy.services[0]`, "6:47"},
		{"duplicate service role", head + pool + route + "policy:\n  services: [{name: s, match: 'true', roles: [a, a]}]\n", `policy.services[0].roles[1]: role "a" is listed twice`, "6:50"},
		{"missing tests file", head + pool + route + "policy:\n  tests_file: nope.yaml\n", "policy.tests_file: cannot read", "6:15"},
		{"rule not a string or mapping", rules("    allow: [[1]]\n"), "routes[0].allow[0]: expected a mapping", "7:13"},
	})
}

func TestPolicyShorthandAndNames(t *testing.T) {
	cfg, err := LoadBytes(testFile, []byte(head+pool+`routes:
  - name: r
    pool: app
    allow:
      - 'identity.authenticated'
      - {name: named, expr: 'true'}
    deny: ['false']
policy:
  roles: {b: 'true', a: 'false'}
  services: [{name: s, match: 'identity.service', roles: [x]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	rt := cfg.Routes[0]
	want := []Rule{
		{Name: "routes[0].allow[0]", Expr: "identity.authenticated", FieldPath: "routes[0].allow[0]"},
		{Name: "named", Expr: "true", FieldPath: "routes[0].allow[1]"},
	}
	if diff := cmp.Diff(want, rt.Allow); diff != "" {
		t.Errorf("allow (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Rule{{Name: "routes[0].deny[0]", Expr: "false", FieldPath: "routes[0].deny[0]"}}, rt.Deny); diff != "" {
		t.Errorf("deny (-want +got):\n%s", diff)
	}
	// Roles keep file order.
	if diff := cmp.Diff([]Role{{Name: "b", Expr: "true", FieldPath: "policy.roles.b"}, {Name: "a", Expr: "false", FieldPath: "policy.roles.a"}}, cfg.Policy.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Service{{Name: "s", Match: "identity.service", Roles: []string{"x"}, FieldPath: "policy.services[0]"}}, cfg.Policy.Services); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
}
