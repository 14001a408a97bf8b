package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// identity cases: base is lines 1-4; "identity:\n  issuers:\n" lines 5-6;
// the issuer mapping starts on line 7.
func issuerYAML(fields string) string {
	return base + "identity:\n  issuers:\n    - {" + fields + "}\n"
}

const okIssuer = "name: idp, issuer: \"https://idp.example\", audiences: [api]"

func TestValidateIdentity(t *testing.T) {
	runErrCases(t, []errCase{
		{"name missing", issuerYAML(`issuer: "https://idp.example", audiences: [api]`), "identity.issuers[0].name: required", "7:7"},
		{"name invalid", issuerYAML(`name: "a b", issuer: "https://idp.example", audiences: [api]`), `identity.issuers[0].name: invalid name "a b"`, "7:14"},
		{"name duplicate", base + "identity:\n  issuers:\n    - {" + okIssuer + "}\n    - {" + okIssuer + "}\n", `identity.issuers[1].name: issuer name "idp" is already used by identity.issuers[0]`, "8:14"},
		{"issuer missing", issuerYAML(`name: idp, audiences: [api]`), "identity.issuers[0].issuer: required", "7:7"},
		{"audiences missing", issuerYAML(`name: idp, issuer: "https://idp.example"`), "identity.issuers[0].audiences: required: at least one accepted aud", "7:7"},
		{"audience empty", issuerYAML(`name: idp, issuer: "https://idp.example", audiences: [""]`), "identity.issuers[0].audiences[0]: must not be empty", "7:62"},
		{"alg none", issuerYAML(okIssuer + `, algorithms: [none]`), `identity.issuers[0].algorithms[0]: "none" is never accepted`, "7:81"},
		{"alg NONE", issuerYAML(okIssuer + `, algorithms: [NONE]`), `identity.issuers[0].algorithms[0]: "none" is never accepted`, "7:81"},
		{"hmac without secret", issuerYAML(okIssuer + `, algorithms: [HS256]`), "identity.issuers[0].algorithms[0]: HS256 needs hmac_secret_file; HMAC is never accepted alongside public keys", "7:81"},
		{"rsa with secret", issuerYAML(okIssuer + `, hmac_secret_file: valid/identity-hmac.secret, algorithms: [RS256]`), "identity.issuers[0].algorithms[0]: RS256 is a public-key algorithm", "7:127"},
		{"unknown alg", issuerYAML(okIssuer + `, algorithms: [RS1]`), `identity.issuers[0].algorithms[0]: unknown algorithm "RS1"`, "7:81"},
		{"alg twice", issuerYAML(okIssuer + `, algorithms: [RS256, RS256]`), "identity.issuers[0].algorithms[1]: RS256 is listed twice", "7:88"},
		{"two key sources", issuerYAML(okIssuer + `, jwks_url: "https://idp.example/jwks", jwks_file: valid/identity-jwks.json`), "identity.issuers[0].jwks_file: give at most one of", "7:117"},
		{"jwks over http", issuerYAML(okIssuer + `, jwks_url: "http://idp.example/jwks"`), `uses http on a non-loopback host`, "7:78"},
		{"discovery over http", issuerYAML(`name: idp, issuer: "http://idp.example", audiences: [api]`), "identity.issuers[0].issuer: keys are found by OIDC discovery", "7:27"},
		{"jwks file not a set", issuerYAML(okIssuer + `, jwks_file: valid/redirects.txt`), "not a JWKS", "7:79"},
		{"skew too large", issuerYAML(okIssuer + `, clock_skew: 10m`), "identity.issuers[0].clock_skew: must be at most 5m", "7:80"},
		{"lifetime zero", issuerYAML(okIssuer + `, max_token_lifetime: 0s`), "identity.issuers[0].max_token_lifetime: must be greater than 0", "7:88"},
		{"refresh too short", issuerYAML(okIssuer + `, jwks_refresh: 10ms`), "identity.issuers[0].jwks_refresh: must be at least 1s", "7:82"},
		{"kid interval too short", issuerYAML(okIssuer + `, unknown_kid_refetch_interval: 1ms`), "unknown_kid_refetch_interval: must be at least 1s", "7:98"},
		{"preset unknown", issuerYAML(okIssuer + `, preset: azure`), `identity.issuers[0].preset: unknown preset "azure"`, "7:76"},
		{"domains without google", issuerYAML(okIssuer + `, allowed_domains: [example.com]`), "identity.issuers[0].allowed_domains: only with preset google", "7:68"},
		{"domain invalid", issuerYAML(okIssuer + `, preset: google, allowed_domains: ["@x"]`), `identity.issuers[0].allowed_domains[0]: must be a domain name`, "7:102"},
		{"on_unreachable", issuerYAML(okIssuer + `, on_unreachable: retry`), "identity.issuers[0].on_unreachable: must be fail_start or fail_closed", "7:84"},
		{"on_unreachable with file", issuerYAML(okIssuer + `, jwks_file: valid/identity-jwks.json, on_unreachable: fail_closed`), "on_unreachable: only for issuers whose keys are fetched", "7:121"},
		{"required claim name", issuerYAML(okIssuer + `, required_claims: [{values: [x]}]`), "identity.issuers[0].required_claims[0].name: required", "7:86"},
		{"claim path", issuerYAML(okIssuer + `, claims: {roles: ["a..b"]}`), `identity.issuers[0].claims.roles[0]: invalid claim path "a..b"`, "7:85"},
		{"cache size", base + "identity: {token_cache_size: -1}\n", "identity.token_cache_size: must be from 0 to 10000000", "5:30"},
		{"token size", base + "identity: {max_token_bytes: 2MiB}\n", "identity.max_token_bytes: must be at most 1MiB", "5:29"},
	})
}

func TestShortHMACSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadBytes(testFile, []byte(issuerYAML(okIssuer+`, hmac_secret_file: "`+file+`"`)))
	if err == nil || !strings.Contains(err.Error(), "is shorter than 32 bytes") || strings.Contains(err.Error(), "short\n") {
		t.Fatalf("want a short-secret error that does not quote the secret, got %v", err)
	}
}

func TestValidateRouteAuth(t *testing.T) {
	withIssuer := head + pool + "identity:\n  issuers:\n    - {" + okIssuer + "}\n" // lines 1-6
	r := func(auth string) string {
		return withIssuer + "routes:\n  - {name: r, pool: app, auth: " + auth + "}\n"
	} // route on line 8
	runErrCases(t, []errCase{
		{"mode missing", r("{}"), "routes[0].auth.mode: required", "8:26"},
		{"mode unknown", r("{mode: oauth}"), `routes[0].auth.mode: must be public, bearer, session or bearer_or_session, got "oauth"`, "8:39"},
		{"bearer without issuers", head + pool + "routes:\n  - {name: r, pool: app, auth: {mode: bearer}}\n", "routes[0].auth.mode: bearer needs at least one identity.issuers entry", "5:39"},
		{"unknown issuer", r("{mode: bearer, issuers: [idq]}"), `routes[0].auth.issuers[0]: no identity.issuers entry is named "idq" (known: idp)`, "8:57"},
		{"issuer twice", r("{mode: bearer, issuers: [idp, idp]}"), `routes[0].auth.issuers[1]: "idp" is listed twice`, "8:62"},
		{"issuers on public", r("{mode: public, issuers: [idp]}"), "routes[0].auth.issuers: only with mode bearer or bearer_or_session", "8:47"},
		{"forward on session", r("{mode: session, forward_token: true}"), "routes[0].auth.forward_token: only with mode bearer or bearer_or_session", "8:63"},
	})
}

func TestIdentityDefaults(t *testing.T) {
	cfg, err := LoadBytes(testFile, []byte(base+"identity:\n  issuers:\n    - {"+okIssuer+", preset: keycloak}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Identity
	want := Identity{TokenCacheSize: DefaultTokenCacheSize, MaxTokenBytes: DefaultMaxTokenBytes, Issuers: []Issuer{{
		Name: "idp", Issuer: "https://idp.example", DiscoveryURL: "https://idp.example/.well-known/openid-configuration",
		Audiences: []string{"api"}, ClockSkew: time.Minute, MaxTokenLifetime: 2 * time.Hour, Preset: PresetKeycloak,
		OnUnreachable: OnUnreachableFailStart, UnknownKIDRefetchInterval: time.Minute,
		Claims: ClaimMapping{Subject: "sub", Email: "email", Name: "name", Groups: []string{"groups"},
			Roles: []string{"realm_access.roles", "resource_access.api.roles"}, Scopes: []string{"scope"}},
	}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("defaults (-want +got):\n%s", d)
	}
	if !cfg.Routes[0].Auth.Public() {
		t.Fatal("a route without auth must be public")
	}
}

// TestHashCoversReadFiles: a SIGHUP after editing only a key set or a
// secret must reload, so the files the validator reads are part of the
// configuration's hash.
func TestHashCoversReadFiles(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "hmac.secret")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(secret, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := []byte(issuerYAML(`name: idp, issuer: "https://idp.example", audiences: [api], algorithms: [HS256], hmac_secret_file: "` + secret + `"`))
	write(strings.Repeat("a", 40))
	c1, err := LoadBytes(testFile, src)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := LoadBytes(testFile, src)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Hash != c2.Hash {
		t.Fatal("the same source and files hash differently")
	}
	write(strings.Repeat("b", 40))
	c3, err := LoadBytes(testFile, src)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Hash == c1.Hash {
		t.Error("Hash did not change when only hmac_secret_file's contents did")
	}
}
