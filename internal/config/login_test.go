package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// login cases: base is lines 1-4; "login:" is line 5 and its fields follow.
func loginYAML(fields string) string { return base + "login:\n" + fields }

const okLogin = "  issuer: \"https://idp.example\"\n  client_id: edgegate\n" // lines 6-7

func devYAML(fields string) string { return base + "dev_provider:\n" + fields }

const okDevUsers = "  users: [{name: alice}]\n  clients: [{id: c, redirect_uris: [\"http://127.0.0.1:8080/.edgegate/callback\"]}]\n"

func TestValidateLogin(t *testing.T) {
	runErrCases(t, []errCase{
		{"issuer missing", loginYAML("  client_id: x\n"), "login.issuer: required", "5:1"},
		{"issuer unknown name", loginYAML("  issuer: corp\n  client_id: x\n"), `login.issuer: no identity.issuers entry is named "corp"; identity.issuers is empty`, "6:11"},
		{"issuer http", loginYAML("  issuer: \"http://idp.example\"\n  client_id: x\n"), "uses http on a non-loopback host", "6:11"},
		{"issuer other scheme", loginYAML("  issuer: \"ftp://idp.example\"\n  client_id: x\n"), "must use https", "6:11"},
		{"issuer with query", loginYAML("  issuer: \"https://idp.example/?a=b\"\n  client_id: x\n"), "without user info, query or fragment", "6:11"},
		{"client_id missing", loginYAML("  issuer: \"https://idp.example\"\n"), "login.client_id: required", "5:1"},
		{"client_id with space", loginYAML("  issuer: \"https://idp.example\"\n  client_id: \"a b\"\n"), "login.client_id: must be 1 to 255 printable", "7:14"},
		{"both secrets", loginYAML(okLogin + "  client_secret_file: valid/login-client.secret\n  client_secret_env: X\n"), "login.client_secret_env: give client_secret_file or client_secret_env, not both", "9:22"},
		{"secret file missing", loginYAML(okLogin + "  client_secret_file: nowhere\n"), `login.client_secret_file: cannot read`, "8:23"},
		{"secret env name", loginYAML(okLogin + "  client_secret_env: \"A-B\"\n"), `login.client_secret_env: "A-B" is not an environment variable name`, "8:22"},
		{"bad scope", loginYAML(okLogin + "  scopes: [\"a b\"]\n"), `login.scopes[0]: invalid scope "a b"`, "8:12"},
		{"cookie without __Host-", loginYAML(okLogin + "  cookie_name: session\n"), `login.cookie_name: "session" must be a cookie name starting with "__Host-"`, "8:16"},
		{"bad post logout", loginYAML(okLogin + "  post_logout_redirect: \"javascript:alert(1)\"\n"), "login.post_logout_redirect:", "8:25"},
		{"absolute below idle", loginYAML(okLogin + "  session: {idle_timeout: 2h, absolute_timeout: 1h}\n"), "login.session.absolute_timeout: must be at least idle_timeout (2h0m0s)", "8:49"},
		{"idle zero", loginYAML(okLogin + "  session: {idle_timeout: 0s}\n"), "login.session.idle_timeout: must be greater than 0", "8:27"},
		{"unknown store", loginYAML(okLogin + "  session: {store: redis}\n"), `login.session.store: unsupported store "redis"`, "8:20"},
		{"max sessions zero", loginYAML(okLogin + "  session: {max_sessions: 0}\n"), "login.session.max_sessions: must be from 1 to 10000000", "8:27"},
		{"bad return host", loginYAML(okLogin + "  allowed_return_hosts: [\"evil.com/x\"]\n"), "login.allowed_return_hosts[0]:", "8:26"},
	})
}

func TestValidateDevProvider(t *testing.T) {
	runErrCases(t, []errCase{
		{"address missing", devYAML(okDevUsers), "dev_provider.address: required", "5:1"},
		{"address not loopback", devYAML("  address: \"0.0.0.0:9400\"\n" + okDevUsers), `dev_provider.address: "0.0.0.0:9400" is not a loopback address`, "6:12"},
		{"address not host:port", devYAML("  address: nowhere\n" + okDevUsers), `dev_provider.address: "nowhere" is not host:port`, "6:12"},
		{"no users", devYAML("  address: \"127.0.0.1:9400\"\n  clients: [{id: c, secret: s}]\n"), "dev_provider.users: at least one dev user is required", "5:1"},
		{"no clients", devYAML("  address: \"127.0.0.1:9400\"\n  users: [{name: a}]\n"), "dev_provider.clients: at least one client is required", "5:1"},
		{"user name bad", devYAML("  address: \"127.0.0.1:9400\"\n  users: [{name: \"a b\"}]\n  clients: [{id: c, secret: s}]\n"), `dev_provider.users[0].name: "a b"`, "7:18"},
		{"user twice", devYAML("  address: \"127.0.0.1:9400\"\n  users: [{name: a}, {name: a}]\n  clients: [{id: c, secret: s}]\n"), `dev_provider.users[1].name: user "a" is already users[0]`, "7:29"},
		{"bad email", devYAML("  address: \"127.0.0.1:9400\"\n  users: [{name: a, email: nope}]\n  clients: [{id: c, secret: s}]\n"), `dev_provider.users[0].email: "nope" is not an email address`, "7:28"},
		{"public client without redirect", devYAML("  address: \"127.0.0.1:9400\"\n  users: [{name: a}]\n  clients: [{id: c}]\n"), "dev_provider.clients[0].redirect_uris: a public client", "8:13"},
		{"client twice", devYAML("  address: \"127.0.0.1:9400\"\n  users: [{name: a}]\n  clients: [{id: c, secret: s}, {id: c, secret: s}]\n"), `dev_provider.clients[1].id: client "c" is already clients[0]`, "8:38"},
		{"bad redirect", devYAML("  address: \"127.0.0.1:9400\"\n  users: [{name: a}]\n  clients: [{id: c, redirect_uris: [\"/cb\"]}]\n"), `dev_provider.clients[0].redirect_uris[0]: "/cb" must be an absolute`, "8:37"},
		{"bad issuer", devYAML("  address: \"127.0.0.1:9400\"\n  issuer: \"x\"\n" + okDevUsers), `dev_provider.issuer: "x" must be an absolute http(s) URL`, "7:11"},
		{"token lifetime zero", devYAML("  address: \"127.0.0.1:9400\"\n  token_lifetime: 0s\n" + okDevUsers), "dev_provider.token_lifetime: must be greater than 0", "7:19"},
	})
}

func TestLoginDefaults(t *testing.T) {
	cfg, err := LoadBytes(testFile, []byte(loginYAML(okLogin)+devYAML("  address: \"0.0.0.0:9400\"\n  force: true\n" + okDevUsers)[len(base):]))
	if err != nil {
		t.Fatal(err)
	}
	want := &Login{
		IssuerURL: "https://idp.example", ClientID: "edgegate", Scopes: []string{"openid", "email", "profile"},
		CookieName: "__Host-edgegate",
		Session:    SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 12 * time.Hour, RefreshBefore: time.Minute, Store: "memory", MaxSessions: 100_000},
	}
	if diff := cmp.Diff(want, cfg.Login); diff != "" {
		t.Errorf("login defaults (-want +got):\n%s", diff)
	}
	if d := cfg.DevProvider; d == nil || d.Issuer != "http://0.0.0.0:9400" || d.TokenLifetime != 5*time.Minute || !d.Force {
		t.Errorf("dev provider defaults: %+v", d)
	}
	// openid is always requested, once.
	cfg, err = LoadBytes(testFile, []byte(loginYAML(okLogin+"  scopes: [email, openid, email]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"openid", "email"}, cfg.Login.Scopes); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}
