package config

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateAssertion(t *testing.T) {
	// The assertion section starts on line 5, its first field on line 6.
	a := func(body string) string { return base + "assertion:\n  " + body + "\n" }
	runErrCases(t, []errCase{
		{"header underscore", a("header: X_Assert"), `assertion.header: header name "X_Assert" contains "_"`, "6:11"},
		{"header managed", a("header: connection"), "assertion.header: header Connection is managed by the proxy", "6:11"},
		{"header authorization", a("header: authorization"), "assertion.header: header Authorization carries the client's credentials", "6:11"},
		{"header cookie", a("header: Cookie"), "header Cookie carries the client's credentials", "6:11"},
		{"header request id", a("header: x-request-id"), "header X-Request-Id carries", "6:11"},
		{"issuer empty", a(`issuer: ""`), "assertion.issuer: must be a non-empty name or URL", "6:11"},
		{"issuer control", a(`issuer: "a\nb"`), "assertion.issuer: must be a non-empty name or URL without control characters", "6:11"},
		{"ttl too long", a("ttl: 6m"), `assertion.ttl: must be from 1s to 5m, got "6m"`, "6:8"},
		{"ttl too short", a("ttl: 500ms"), `assertion.ttl: must be from 1s to 5m, got "500ms"`, "6:8"},
		{"ttl zero", a("ttl: 0s"), `assertion.ttl: must be greater than 0`, "6:8"},
		{"ttl bare number", a("ttl: 60"), `assertion.ttl: invalid duration "60"`, "6:8"},
		{"forward not bool", a("forward_identity_headers: yes please"), "assertion.forward_identity_headers: expected true or false", "6:29"},
		{"unknown field", a("audience: x"), `assertion.audience: unknown field "audience"`, "6:3"},
	})
}

func TestValidateRouteAssertion(t *testing.T) {
	r := func(body string) string {
		return head + pool + "routes:\n  - name: r\n    pool: app\n    assertion: " + body + "\n"
	}
	runErrCases(t, []errCase{
		{"audience empty", r(`{audience: ""}`), "routes[0].assertion.audience: must be a non-empty name or URL", "7:27"},
		{"audience CRLF", r(`{audience: "a\r\nX-Evil: 1"}`), "routes[0].assertion.audience: must be a non-empty name or URL without control characters", "7:27"},
		{"audience on redirect", head + pool + "routes:\n  - name: r\n    redirect: {to: /x}\n    assertion: {audience: x}\n",
			"routes[0].assertion.audience: needs pool", "7:27"},
		{"disabled not bool", r("{disabled: 1}"), "routes[0].assertion.disabled: expected true or false", "7:27"},
	})
}

func TestValidateKeys(t *testing.T) {
	// keys: is line 5, its first field line 6.
	k := func(body string) string { return base + "keys:\n  " + body + "\n" }
	runErrCases(t, []errCase{
		{"algorithm", k("algorithm: RS256"), `keys.algorithm: unknown algorithm "RS256"; use "ES256" or "EdDSA"`, "6:14"},
		{"rotation short", k("rotation: 30s"), `keys.rotation: must be at least 1m, got "30s"`, "6:13"},
		{"rotation negative", k("rotation: -1h"), `keys.rotation: must be greater than 0`, "6:13"},
		{"retire below ttl", k("retire_after: 2m"), "keys.retire_after: must be at least assertion.ttl plus 1m of clock skew (3m), got 2m", "6:17"},
		{"retire below custom ttl", base + "assertion: {ttl: 5m}\nkeys: {retire_after: 5m}\n", "keys.retire_after: must be at least assertion.ttl plus 1m of clock skew (6m)", "6:22"},
		{"session retire zero", k("session_retire_after: 0s"), "keys.session_retire_after: must be greater than 0", "6:25"},
		{"env and file", k("{master_key_env: A, master_key_file: b}"), "keys.master_key_file: give master_key_env or master_key_file, not both", "6:40"},
		{"env invalid", k("master_key_env: 'base64:abcd=='"), `keys.master_key_env: "base64:abcd==" is not an environment variable name`, "6:19"},
		{"env digit", k("master_key_env: 1KEY"), `is not an environment variable name`, "6:19"},
		{"file empty", k(`master_key_file: ""`), "keys.master_key_file: must not be empty", "6:20"},
		{"keystore empty", k(`keystore: ""`), "keys.keystore: must not be empty", "6:13"},
		{"keystore is config", k("keystore: t.yaml"), "keys.keystore: must not be the configuration file itself", "6:13"},
		{"keystore no dir", k("keystore: nowhere/keys.json"), `keys.keystore: directory of "testdata/nowhere/keys.json": no such file or directory`, "6:13"},
		{"keystore dir is file", k("keystore: valid/full.yaml/keys.json"), `keys.keystore: "testdata/valid/full.yaml" is not a directory`, "6:13"},
		{"unknown field", k("master_key: c2VjcmV0"), `keys.master_key: unknown field "master_key" (did you mean "master_key_env"?)`, "6:3"},
	})
}

func TestKeysDefaults(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want Keys
	}{
		{"absent is in memory", base, Keys{InMemory: true, Algorithm: "ES256", Rotation: 24 * time.Hour, RetireAfter: time.Hour, SessionRetireAfter: 168 * time.Hour}},
		{"empty section stores next to the config", base + "keys: {}\n", Keys{Keystore: filepath.Join("testdata", "edgegate-keys.json"),
			MasterKeyEnv: "EDGEGATE_MASTER_KEY", Algorithm: "ES256", Rotation: 24 * time.Hour, RetireAfter: time.Hour, SessionRetireAfter: 168 * time.Hour}},
		{"file relative", base + "keys: {master_key_file: certs/mk, keystore: /tmp/k.json}\n", Keys{Keystore: "/tmp/k.json",
			MasterKeyFile: filepath.Join("testdata", "certs", "mk"), Algorithm: "ES256", Rotation: 24 * time.Hour, RetireAfter: time.Hour, SessionRetireAfter: 168 * time.Hour}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadBytes(testFile, []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, cfg.Keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			want := Assertion{Header: "Edgegate-Assertion", Issuer: "edgegate", TTL: 2 * time.Minute}
			if diff := cmp.Diff(want, cfg.Assertion); diff != "" {
				t.Errorf("assertion (-want +got):\n%s", diff)
			}
			if got := cfg.Routes[0].Assertion; got != (RouteAssertion{Audience: "app"}) {
				t.Errorf("route assertion = %+v, want audience app", got)
			}
		})
	}
}
