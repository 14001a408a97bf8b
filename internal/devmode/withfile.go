package devmode

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/edgegate/edgegate/internal/config"
)

// Names dev mode gives what it runs, so a file written for `edgegate dev
// -c` can name them: its routes forward to pool DemoPool and trust issuer
// DevIssuer.
const (
	DemoPool  = "demo"
	DevIssuer = "dev"
)

// FileHelp says what `edgegate dev -c FILE` takes from FILE and what from
// dev mode; `edgegate dev -h` prints it and the README repeats it.
const FileHelp = `With -c FILE, edgegate dev runs FILE (a configuration that also validates on
its own) with these parts replaced by dev mode's own, so it stays on loopback
and its dev users can log in:
  listeners, admin   the --listen and --admin addresses (FILE's are not used)
  dev_provider       the embedded provider on --provider and its clients; its
                     users are FILE's dev_provider.users if given, else alice and bob
  pool "demo"        the demo origin on --origin (added, or replacing FILE's "demo")
  issuer "dev"       the dev provider (added to identity.issuers, or replacing
                     FILE's "dev"); tokens of "edgegate token" have audience edgegate
  login              browser login at the dev provider, public client edgegate,
                     when FILE has no login section or its login.issuer is "dev"
                     (FILE's session, cookie and return settings are kept)
  audit              a trail in --audit-dir (default: a new temporary directory)
  log                level info with the access log, when FILE has no log section
Everything else comes from FILE as written: routes, other pools and issuers,
policy (roles, services, rules, tests_file), assertion, keys, scripts, cache,
limits, timeouts, tracing. Relative paths are relative to FILE's directory.
`

// Loaded is the configuration `edgegate dev -c FILE` runs.
type Loaded struct {
	Config *config.Config
	// Notes say what dev mode put in, one line each, for the banner.
	Notes []string
}

// LoadFile reads file and merges it with dev mode's configuration for a as
// FileHelp describes. Problems in the file are reported at its own lines
// (an ErrorList, as config.Load returns).
func LoadFile(a Addrs, file string) (*Loaded, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	user, pos, err := config.Parse(file, src)
	if err != nil {
		return nil, err
	}
	devSrc := Config(a)
	dev, _, err := config.Parse("(edgegate dev)", devSrc)
	if err != nil {
		return nil, fmt.Errorf("built-in configuration: %w", err)
	}
	notes := merge(user, dev, a)
	cfg, err := config.Validate(user, pos)
	if err != nil {
		return nil, err
	}
	// The hash names what runs: the file and dev mode's part of it.
	h := sha256.New()
	h.Write(src)
	h.Write([]byte{0})
	h.Write(devSrc)
	cfg.Hash = hex.EncodeToString(h.Sum(nil))
	return &Loaded{Config: cfg, Notes: notes}, nil
}

// merge puts dev mode's parts (from dev, the built-in configuration) into
// user, as FileHelp says, and returns what it did.
func merge(user, dev *config.RawConfig, a Addrs) []string {
	a = a.withProvider()
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }

	user.Listeners, user.Admin = dev.Listeners, dev.Admin
	note("listener %s, admin %s (dev mode stays on loopback)", a.Gateway, a.Admin)

	users := dev.DevProvider.Users
	if user.DevProvider != nil && len(user.DevProvider.Users) > 0 {
		users = user.DevProvider.Users
	}
	dp := *dev.DevProvider
	dp.Users = users
	user.DevProvider = &dp
	names := make([]string, 0, len(users))
	for _, u := range users {
		if u.Name != nil {
			names = append(names, *u.Name)
		}
	}
	note("dev_provider at http://%s, users %s", a.providerHost(), strings.Join(names, ", "))

	demo := findPool(dev.Pools, DemoPool)
	if i := poolIndex(user.Pools, DemoPool); i >= 0 {
		user.Pools[i] = *demo
		note("pool %q: the demo origin at %s (replaces the file's)", DemoPool, a.Origin)
	} else {
		user.Pools = append(user.Pools, *demo)
		note("pool %q: the demo origin at %s", DemoPool, a.Origin)
	}

	devIss := dev.Identity.Issuers[0]
	if i := issuerIndex(user.Identity.Issuers, DevIssuer); i >= 0 {
		user.Identity.Issuers[i] = devIss
		note("issuer %q: the dev provider (replaces the file's)", DevIssuer)
	} else {
		user.Identity.Issuers = append(user.Identity.Issuers, devIss)
		note("issuer %q: the dev provider", DevIssuer)
	}

	switch {
	case user.Login == nil:
		user.Login = dev.Login
		note("login: at the dev provider, client %s", DevClientID)
	case user.Login.Issuer != nil && *user.Login.Issuer == DevIssuer:
		l := *user.Login
		l.ClientID, l.ClientSecretFile, l.ClientSecretEnv = dev.Login.ClientID, nil, nil
		user.Login = &l
		note("login: the file's, at the dev provider with client %s", DevClientID)
	}

	// The dev key ring is in memory unless the file keeps one, so the
	// trail starts anew with the keys that sign its checkpoints.
	user.Audit = dev.Audit
	if a.AuditDir != "" {
		note("audit trail: %s/audit.jsonl", a.AuditDir)
	}

	if reflect.ValueOf(user.Log).IsZero() {
		user.Log = dev.Log
	}
	return notes
}

func poolIndex(pools []config.RawPool, name string) int {
	for i, p := range pools {
		if p.Name != nil && *p.Name == name {
			return i
		}
	}
	return -1
}

func findPool(pools []config.RawPool, name string) *config.RawPool {
	if i := poolIndex(pools, name); i >= 0 {
		return &pools[i]
	}
	return nil
}

func issuerIndex(iss []config.RawIssuer, name string) int {
	for i, s := range iss {
		if s.Name != nil && *s.Name == name {
			return i
		}
	}
	return -1
}
