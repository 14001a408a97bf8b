package devmode_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/devmode"
)

// fileAddrs are fixed addresses (nothing listens in these tests) and a
// fresh audit directory.
func fileAddrs(t *testing.T) devmode.Addrs {
	return devmode.Addrs{Gateway: "127.0.0.1:18080", Admin: "127.0.0.1:19901", Origin: "127.0.0.1:19000", Provider: "127.0.0.1:19400", AuditDir: t.TempDir()}
}

func writeConfig(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const userRoutes = `routes:
  - name: orders
    match: {path_prefix: /orders}
    pool: demo
    auth: {mode: bearer}
    allow: ['"dev" in identity.groups']
`

// TestLoadFile: what `edgegate dev -c` takes from dev mode, and what from
// the file, section by section (FileHelp).
func TestLoadFile(t *testing.T) {
	testAddrs := fileAddrs(t)
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, cfg *config.Config)
		notes []string
	}{
		{
			name: "minimal file: dev mode adds listener, pool, issuer, login, audit, log",
			src:  "version: 1\n" + userRoutes,
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Listeners) != 1 || cfg.Listeners[0].Address != testAddrs.Gateway || cfg.Admin.Address != testAddrs.Admin {
					t.Errorf("listeners %+v admin %q", cfg.Listeners, cfg.Admin.Address)
				}
				if len(cfg.Pools) != 1 || cfg.Pools[0].Name != "demo" || cfg.Pools[0].Members[0].URL.Host != testAddrs.Origin {
					t.Errorf("pools %+v", cfg.Pools)
				}
				if len(cfg.Identity.Issuers) != 1 || cfg.Identity.Issuers[0].Name != "dev" || cfg.Identity.Issuers[0].Issuer != "http://"+testAddrs.Provider {
					t.Errorf("issuers %+v", cfg.Identity.Issuers)
				}
				if cfg.Login == nil || cfg.Login.ClientID != devmode.DevClientID {
					t.Errorf("login %+v", cfg.Login)
				}
				if cfg.DevProvider == nil || cfg.DevProvider.Address != testAddrs.Provider || len(cfg.DevProvider.Users) != 2 {
					t.Errorf("dev provider %+v", cfg.DevProvider)
				}
				if len(cfg.Audit.Sinks) != 1 || cfg.Audit.Sinks[0].Path != testAddrs.AuditDir+"/audit.jsonl" {
					t.Errorf("audit %+v", cfg.Audit.Sinks)
				}
				if !cfg.Log.Access {
					t.Error("the access log is off")
				}
				if len(cfg.Routes) != 1 || cfg.Routes[0].Name != "orders" {
					t.Errorf("routes: %+v (the built-in routes must not be added)", cfg.Routes)
				}
				if cfg.Scripts.Bundle("dev") != nil {
					t.Error("the built-in EdgeWorkers bundle was added")
				}
			},
			notes: []string{`pool "demo": the demo origin at 127.0.0.1:19000` + "\n", `issuer "dev": the dev provider` + "\n", "login: at the dev provider"},
		},
		{
			name: "a whole configuration: same names replaced, the rest kept",
			src: `version: 1
listeners: [{address: "0.0.0.0:443"}]
admin: {address: "0.0.0.0:9901"}
log: {level: debug, access: false}
pools:
  - {name: other, members: [http://127.0.0.1:7000]}
  - {name: demo, members: [http://127.0.0.1:9000]}
identity:
  issuers:
    - {name: corp, issuer: https://idp.example.com, jwks_url: https://idp.example.com/keys, audiences: [x]}
    - {name: dev, issuer: http://127.0.0.1:9400, audiences: [edgegate]}
login:
  issuer: dev
  client_id: mine
  client_secret_env: NOPE
  session: {idle_timeout: 7m}
dev_provider:
  address: 127.0.0.1:9400
  users: [{name: carol, groups: [ops]}]
  clients: [{id: x, redirect_uris: ["http://127.0.0.1:8080/.edgegate/callback"]}]
assertion: {issuer: https://edge.example.com, header: X-Edge-Identity}
policy:
  roles: {admin: '"admins" in identity.groups'}
` + userRoutes + `  - {name: other, match: {path_prefix: /other}, pool: other}
`,
			check: func(t *testing.T, cfg *config.Config) {
				if len(cfg.Listeners) != 1 || cfg.Listeners[0].Address != testAddrs.Gateway || cfg.Admin.Address != testAddrs.Admin {
					t.Errorf("listeners %+v admin %q: the file's must not be used", cfg.Listeners, cfg.Admin.Address)
				}
				if len(cfg.Pools) != 2 || cfg.Pools[0].Name != "other" || cfg.Pools[1].Name != "demo" || cfg.Pools[1].Members[0].URL.Host != testAddrs.Origin {
					t.Errorf("pools %+v", cfg.Pools)
				}
				if len(cfg.Identity.Issuers) != 2 || cfg.Identity.Issuers[0].Name != "corp" || cfg.Identity.Issuers[1].Issuer != "http://"+testAddrs.Provider {
					t.Errorf("issuers %+v", cfg.Identity.Issuers)
				}
				if l := cfg.Login; l == nil || l.ClientID != devmode.DevClientID || l.ClientSecretEnv != "" || l.ClientSecretFile != "" || l.Session.IdleTimeout.Minutes() != 7 {
					t.Errorf("login %+v: want the dev client, no secret, the file's session", l)
				}
				if dp := cfg.DevProvider; dp == nil || dp.Address != testAddrs.Provider || len(dp.Users) != 1 || dp.Users[0].Name != "carol" || dp.Clients[0].ID != devmode.DevClientID {
					t.Errorf("dev provider %+v: want dev mode's, with the file's users", dp)
				}
				if cfg.Log.Level != "debug" || cfg.Log.Access {
					t.Errorf("log %+v: the file's", cfg.Log)
				}
				if cfg.Assertion.Issuer != "https://edge.example.com" || cfg.Assertion.Header != "X-Edge-Identity" {
					t.Errorf("assertion %+v: the file's", cfg.Assertion)
				}
				if len(cfg.Policy.Roles) != 1 {
					t.Errorf("policy roles %+v: the file's", cfg.Policy.Roles)
				}
				c := devmode.CheckFor(cfg, testAddrs.Gateway)
				if c.Header != "X-Edge-Identity" || c.Issuer != "https://edge.example.com" || len(c.Audiences) != 1 || c.Audiences[0] != "demo" ||
					c.JWKSURL != "http://"+testAddrs.Gateway+"/.well-known/edgegate/jwks.json" {
					t.Errorf("the demo origin's check %+v", c)
				}
			},
			notes: []string{`pool "demo": the demo origin at 127.0.0.1:19000 (replaces the file's)`, `issuer "dev": the dev provider (replaces the file's)`,
				"login: the file's, at the dev provider with client edgegate", "users carol"},
		},
		{
			name: "login at another issuer is the file's",
			src: "version: 1\nidentity: {issuers: [{name: corp, issuer: https://idp.example.com, audiences: [x]}]}\n" +
				"login: {issuer: corp, client_id: web}\n" + userRoutes,
			check: func(t *testing.T, cfg *config.Config) {
				if cfg.Login == nil || cfg.Login.ClientID != "web" {
					t.Errorf("login %+v", cfg.Login)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := devmode.LoadFile(testAddrs, writeConfig(t, tt.src))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, l.Config)
			notes := strings.Join(l.Notes, "\n") + "\n"
			for _, n := range tt.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes lack %q:\n%s", n, notes)
				}
			}
			if l.Config.Hash == "" || !strings.HasSuffix(l.Config.File, "mine.yaml") {
				t.Errorf("hash %q file %q", l.Config.Hash, l.Config.File)
			}
		})
	}
}

// TestLoadFileErrors: problems are reported at the file's own lines.
func TestLoadFileErrors(t *testing.T) {
	testAddrs := fileAddrs(t)
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown pool", "version: 1\nroutes:\n  - name: a\n    match: {path_prefix: /}\n    pool: nope\n", []string{"mine.yaml:5:", "routes[0].pool", "nope"}},
		{"unknown field", "version: 1\nroutez: []\n", []string{"mine.yaml:2:", "routez"}},
		{"bad CEL", "version: 1\n" + strings.Replace(userRoutes, `'"dev" in identity.groups'`, `'identity.nope'`, 1), []string{"mine.yaml:7:", "routes[0].allow[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := devmode.LoadFile(testAddrs, writeConfig(t, tt.src))
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("err = %v, want a config.ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	if _, err := devmode.LoadFile(testAddrs, filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestExampleFile: the shipped examples/dev/policy.yaml loads under dev
// mode, and the banner shows its routes, not the built-in examples.
func TestExampleFile(t *testing.T) {
	const file = "../../examples/dev/policy.yaml"
	testAddrs := fileAddrs(t)
	l, err := devmode.LoadFile(testAddrs, file)
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Policy.TestsFile != "../../examples/dev/policy_test.yaml" {
		t.Errorf("tests_file %q: relative to the file", l.Config.Policy.TestsFile)
	}
	b := devmode.FileBanner(testAddrs, file, l.Config, l.Notes)
	for _, want := range []string{
		"edgegate dev is running " + file, "users alice, bob, no passwords",
		"  orders  /orders  bearer_or_session  2 allow, 1 deny  pool demo",
		`curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18080/orders`,
		"open http://127.0.0.1:18080/orders", "edgegate policy test " + file,
		"/.well-known/edgegate/jwks.json", "audit verify --jwks http://127.0.0.1:18080/.well-known/edgegate/jwks.json " + testAddrs.AuditDir,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	for _, bad := range []string{"/ew/", "%!", "WARNING"} {
		if strings.Contains(b, bad) {
			t.Errorf("banner has %q:\n%s", bad, b)
		}
	}
}

func TestCheckProvider(t *testing.T) {
	tests := []struct {
		addr  string
		force bool
		ok    bool
		host  string // where the gateway reaches it, when ok
	}{
		{"127.0.0.1:9400", false, true, "127.0.0.1:9400"},
		{"[::1]:9400", false, true, "[::1]:9400"},
		{"localhost:9400", false, true, "localhost:9400"},
		{"0.0.0.0:9400", false, false, ""},
		{"192.0.2.1:9400", false, false, ""},
		{"0.0.0.0:9400", true, true, "127.0.0.1:9400"},
		{"[::]:9400", true, true, "[::1]:9400"},
		{":9400", true, true, "127.0.0.1:9400"},
		{"192.0.2.1:9400", true, false, ""},
		{"127.0.0.1:9400", true, true, "127.0.0.1:9400"}, // forced, but loopback: nothing to force
		{"nonsense", true, false, ""},
	}
	for _, tt := range tests {
		a := devmode.Addrs{Gateway: "127.0.0.1:8080", Admin: "127.0.0.1:9901", Origin: "127.0.0.1:9000", Provider: tt.addr, ForceProvider: tt.force}
		err := devmode.CheckProvider(a)
		if (err == nil) != tt.ok {
			t.Errorf("%s force=%v: %v", tt.addr, tt.force, err)
			continue
		}
		if !tt.ok {
			if !errors.Is(err, devmode.ErrProviderAddress) && tt.addr != "nonsense" {
				t.Errorf("%s: %v does not wrap ErrProviderAddress", tt.addr, err)
			}
			continue
		}
		// A forced provider still yields a configuration that loads: the
		// gateway trusts it through loopback.
		cfg, err := config.LoadBytes("dev.yaml", devmode.Config(a))
		if err != nil {
			t.Errorf("%s force=%v: %v", tt.addr, tt.force, err)
			continue
		}
		offLoopback := tt.force && tt.addr != "127.0.0.1:9400"
		if cfg.DevProvider.Address != tt.addr || cfg.DevProvider.Force != offLoopback || cfg.DevProvider.Issuer != "http://"+tt.host || cfg.Identity.Issuers[0].Issuer != "http://"+tt.host {
			t.Errorf("%s force=%v: dev provider %+v issuer %q", tt.addr, tt.force, cfg.DevProvider, cfg.Identity.Issuers[0].Issuer)
		}
		w := devmode.ForcedWarning(a)
		if offLoopback != strings.Contains(w, "WARNING") || offLoopback && !strings.Contains(devmode.Banner(a), w) {
			t.Errorf("%s force=%v: warning %q", tt.addr, tt.force, w)
		}
	}
}
