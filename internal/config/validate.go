package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// File size limits: far above any real file, low enough that pointing a
// path at something huge (or at /dev/zero) fails fast instead of eating memory.
const (
	maxPEMFileBytes = 1 << 20
	maxMapFileBytes = 32 << 20
)

// Validate checks raw against every rule of the schema, fills defaults
// (defaults.go) and returns the typed configuration. pos (from Parse; may be
// nil) positions the errors and becomes Config.Positions; its File is
// Config.File, and relative file paths in the configuration are resolved
// against its directory (the current directory when File is ""). The
// *Config holds the resolved paths.
//
// Every problem is reported: the error is an ErrorList in file order, each
// entry wrapping ErrInvalid. Files named by the configuration (certificates,
// keys, CAs, redirect maps) are read to check them. Config.Hash is left
// empty; LoadBytes fills it.
func Validate(raw *RawConfig, pos *Positions) (*Config, error) {
	if pos == nil {
		pos = NewPositions("")
	}
	if raw == nil {
		return nil, ErrorList{pos.Errorf("", "no configuration")}
	}
	dir := "."
	if pos.File != "" {
		dir = filepath.Dir(pos.File)
	}
	v := &validator{pos: pos, dir: dir, raw: raw}
	cfg := &Config{File: pos.File, Positions: pos}

	switch {
	case raw.Version == nil:
		v.errorf("version", "required; add \"version: 1\" at the top of the file")
	case *raw.Version != 1:
		v.errorf("version", "unsupported version %d; the only supported version is 1", *raw.Version)
	default:
		cfg.Version = 1
	}
	cfg.Listeners = v.listeners(raw.Listeners)
	cfg.Admin = v.admin(raw.Admin)
	cfg.TrustedProxies = v.trustedProxies(raw.TrustedProxies)
	cfg.Limits = v.limits(raw.Limits)
	cfg.Timeouts = v.timeouts(raw.Timeouts)
	cfg.Log = v.log(raw.Log)
	cfg.Pools = v.pools(raw.Pools)
	cfg.Routes = v.routes(raw.Routes, cfg.Pools)
	cfg.Identity = v.identity(raw)
	cfg.Login = v.login(raw)
	cfg.DevProvider = v.devProvider(raw)
	cfg.Policy = v.policy(raw)
	cfg.Assertion = v.assertion(raw)
	cfg.Keys = v.keys(raw)
	cfg.Audit = v.audit(raw)
	cfg.Tracing = v.tracing(raw.Tracing)
	cfg.Cache = v.cache(raw)
	cfg.Scripts = v.scripts(raw)
	for i := range cfg.Routes {
		rp, r, rt := idx("routes", i), &raw.Routes[i], &cfg.Routes[i]
		rt.Auth = v.routeAuth(rp, r)
		rt.Allow, rt.Deny = v.routeRules(rp, r)
		rt.Assertion = v.routeAssertion(rp, r)
		rt.Cache = v.routeCache(rp, r)
		rt.Script = v.routeScript(rp, r)
	}

	if len(v.errs) > 0 {
		v.sort()
		return nil, v.errs
	}
	cfg.inputs = v.inputs
	return cfg, nil
}

type validator struct {
	// raw is the whole raw configuration, for checks across sections.
	raw  *RawConfig
	pos  *Positions
	dir  string
	errs ErrorList
	// sockets are the listener addresses seen so far, to catch clashes.
	sockets []socket
	// inputs are the files read while validating, for the config's hash.
	inputs []fileDigest
}

// fileDigest names one file a configuration was built from.
type fileDigest struct {
	path string
	sum  [sha256.Size]byte
}

type socket struct {
	host, port, path, addr string
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, v.pos.Errorf(path, format, args...))
}

// sort puts the errors in file order. An error in another file (a redirect
// map) is ordered by the field that names that file.
func (v *validator) sort() {
	key := func(e *Error) Position {
		if e.File != v.pos.File {
			return v.pos.Lookup(e.Path)
		}
		return e.Position
	}
	sort.SliceStable(v.errs, func(i, j int) bool {
		a, b := key(v.errs[i]), key(v.errs[j])
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
}

func idx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// str returns *p, or def when the field was not written.
func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// intIn returns *p (or def), reporting a value outside lo..hi.
func (v *validator) intIn(path string, p *int, def, lo, hi int) int {
	if p == nil {
		return def
	}
	if *p < lo || *p > hi {
		v.errorf(path, "must be from %d to %d, got %d", lo, hi, *p)
	}
	return *p
}

// Duration rules.
const (
	positive    = iota // must be > 0
	nonNegative        // 0 allowed
)

func (v *validator) duration(path string, p *Duration, def time.Duration, rule int) time.Duration {
	if p == nil {
		return def
	}
	d, err := parseDuration(string(*p))
	if err != nil {
		v.errorf(path, "invalid duration %q: %v", string(*p), err)
		return def
	}
	switch {
	case rule == positive && d <= 0:
		v.errorf(path, "must be greater than 0, got %q", string(*p))
	case d < 0:
		v.errorf(path, "must not be negative, got %q", string(*p))
	}
	return d
}

// size parses a size that must be greater than 0.
func (v *validator) size(path string, p *Size, def int64) int64 {
	if p == nil {
		return def
	}
	n, err := parseSize(string(*p))
	if err != nil {
		v.errorf(path, "invalid size %q: %v", string(*p), err)
		return def
	}
	if n <= 0 {
		v.errorf(path, "must be greater than 0, got %q", string(*p))
	}
	return n
}

// resolve makes a configured file path relative to the config's directory.
func (v *validator) resolve(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(v.dir, name)
}

// readFile reads a file named by the field at path, refusing anything that
// is not a regular file of at most limit bytes. ok is false after an error
// has been reported.
func (v *validator) readFile(path, name string, limit int64) (resolved string, data []byte, ok bool) {
	if name == "" {
		v.errorf(path, "must not be empty; give a file path")
		return "", nil, false
	}
	resolved = v.resolve(name)
	fi, err := os.Stat(resolved)
	if err != nil {
		v.errorf(path, "cannot read %q: %v", resolved, pathErr(err))
		return resolved, nil, false
	}
	if !fi.Mode().IsRegular() {
		v.errorf(path, "%q is not a regular file", resolved)
		return resolved, nil, false
	}
	f, err := os.Open(resolved)
	if err != nil {
		v.errorf(path, "cannot read %q: %v", resolved, pathErr(err))
		return resolved, nil, false
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		v.errorf(path, "cannot read %q: %v", resolved, pathErr(err))
		return resolved, nil, false
	}
	if int64(len(data)) > limit {
		v.errorf(path, "%q is larger than %s", resolved, formatSize(limit))
		return resolved, nil, false
	}
	v.inputs = append(v.inputs, fileDigest{path: resolved, sum: sha256.Sum256(data)})
	return resolved, data, true
}

// pathErr drops the operation and path from an *fs.PathError, which the
// message already names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// keyPair checks that cert and key files load as a pair.
func (v *validator) keyPair(certPath, certName, keyPath, keyName string) (certFile, keyFile string) {
	certFile, certPEM, okC := v.readFile(certPath, certName, maxPEMFileBytes)
	keyFile, keyPEM, okK := v.readFile(keyPath, keyName, maxPEMFileBytes)
	if okC && okK {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			v.errorf(certPath, "cannot load the certificate %q with the key %q: %v", certFile, keyFile, err)
		}
	}
	return certFile, keyFile
}

// caFile checks that a CA bundle holds at least one PEM certificate.
func (v *validator) caFile(path, name string) string {
	resolved, data, ok := v.readFile(path, name, maxPEMFileBytes)
	if ok && !x509.NewCertPool().AppendCertsFromPEM(data) {
		v.errorf(path, "no PEM certificate found in %q", resolved)
	}
	return resolved
}

func (v *validator) listeners(raws []RawListener) []Listener {
	if len(raws) == 0 {
		v.errorf("listeners", "at least one listener is required, such as:  listeners: [{address: \"127.0.0.1:8080\"}]")
		return nil
	}
	out := make([]Listener, len(raws))
	names := make(map[string]string)
	for i, r := range raws {
		lp := idx("listeners", i)
		l := &out[i]
		l.Name = defaultListenerName(i)
		if r.Name != nil {
			l.Name = *r.Name
			if err := checkName(l.Name); err != nil {
				v.errorf(lp+".name", "%v", err)
			}
		}
		if first, dup := names[l.Name]; dup {
			v.errorf(lp+".name", "listener name %q is already used by %s; names must be unique", l.Name, first)
		} else {
			names[l.Name] = lp
		}

		if r.Address == nil {
			v.errorf(lp+".address", "required: where to listen, as host:port (\"127.0.0.1:8080\")")
		} else {
			l.Address = *r.Address
			v.claim(lp+".address", l.Address, lp)
		}

		if r.TLS != nil {
			l.TLS = v.serverTLS(lp+".tls", r.TLS)
		}
		l.HTTP2 = boolOr(r.HTTP2, DefaultListenerHTTP2)
		l.H2C = boolOr(r.H2C, DefaultListenerH2C)
		if l.H2C && r.TLS != nil {
			v.errorf(lp+".h2c", "h2c (cleartext HTTP/2) is only for plain listeners; this one has tls, where HTTP/2 is enabled with http2")
		}
	}
	return out
}

// claim checks a listen address and that no earlier listener uses the same
// socket: same port (not 0) and the same host, or either host a wildcard.
func (v *validator) claim(path, addr, owner string) {
	host, port, err := checkAddress(addr)
	if err != nil {
		v.errorf(path, "%v", err)
		return
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	for _, s := range v.sockets {
		if s.port == port && port != "0" && (strings.EqualFold(s.host, host) || wild(s.host) || wild(host)) {
			v.errorf(path, "address %q clashes with %s (%q); each listener needs its own address", addr, s.path, s.addr)
			return
		}
	}
	v.sockets = append(v.sockets, socket{host: host, port: port, path: owner, addr: addr})
}

func (v *validator) serverTLS(path string, r *RawServerTLS) *ServerTLS {
	t := &ServerTLS{MinVersion: tls.VersionTLS12}
	if r.CertFile == nil {
		v.errorf(path+".cert_file", "required: the PEM certificate file of this TLS listener")
	}
	if r.KeyFile == nil {
		v.errorf(path+".key_file", "required: the PEM private key file of this TLS listener")
	}
	if r.CertFile != nil && r.KeyFile != nil {
		t.CertFile, t.KeyFile = v.keyPair(path+".cert_file", *r.CertFile, path+".key_file", *r.KeyFile)
	}
	if r.ClientCAFile != nil {
		t.ClientCAFile = v.caFile(path+".client_ca_file", *r.ClientCAFile)
	}
	switch mv := str(r.MinVersion, DefaultTLSMinVersion); mv {
	case "1.2":
		t.MinVersion = tls.VersionTLS12
	case "1.3":
		t.MinVersion = tls.VersionTLS13
	default:
		v.errorf(path+".min_version", "unsupported TLS version %q; allowed: \"1.2\", \"1.3\"", mv)
	}
	return t
}

func (v *validator) admin(r RawAdmin) Admin {
	addr := str(r.Address, DefaultAdminAddress)
	if addr == "off" {
		return Admin{}
	}
	if _, _, err := checkAddress(addr); err != nil {
		v.errorf("admin.address", "%v (or \"off\" to disable the admin listener)", err)
		return Admin{Address: addr}
	}
	if r.Address == nil {
		// The default may clash with a listener; say so, since the
		// user never wrote this address.
		before := len(v.errs)
		v.claim("admin.address", addr, "admin.address")
		if len(v.errs) > before {
			e := v.errs[len(v.errs)-1]
			e.Msg += "; this is the default admin address: set admin.address to another address, or \"off\""
		}
		return Admin{Address: addr}
	}
	v.claim("admin.address", addr, "admin.address")
	return Admin{Address: addr}
}

func (v *validator) trustedProxies(raws []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range raws {
		p := idx("trusted_proxies", i)
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				v.errorf(p, "invalid CIDR %q: want an address or a CIDR such as \"10.0.0.0/8\" or \"2001:db8::/32\"", s)
				continue
			}
			if pfx != pfx.Masked() {
				v.errorf(p, "CIDR %q has bits set after the prefix length; did you mean %q?", s, pfx.Masked().String())
				continue
			}
			out = append(out, pfx)
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil || addr.Zone() != "" {
			v.errorf(p, "invalid address %q: want an IP address (no zone) or a CIDR such as \"10.0.0.0/8\"", s)
			continue
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out
}

func (v *validator) limits(r RawLimits) Limits {
	return Limits{
		MaxHeaderBytes: int(v.size("limits.max_header_bytes", r.MaxHeaderBytes, DefaultMaxHeaderBytes)),
		MaxBodyBytes:   v.size("limits.max_body_bytes", r.MaxBodyBytes, DefaultMaxBodyBytes),
		MaxURIBytes:    int(v.size("limits.max_uri_bytes", r.MaxURIBytes, DefaultMaxURIBytes)),
	}
}

func (v *validator) timeouts(r RawTimeouts) Timeouts {
	return Timeouts{
		ReadHeader:     v.duration("timeouts.read_header", r.ReadHeader, DefaultReadHeaderTimeout, positive),
		Read:           v.duration("timeouts.read", r.Read, DefaultReadTimeout, positive),
		Write:          v.duration("timeouts.write", r.Write, DefaultWriteTimeout, nonNegative),
		Idle:           v.duration("timeouts.idle", r.Idle, DefaultIdleTimeout, positive),
		OriginConnect:  v.duration("timeouts.origin_connect", r.OriginConnect, DefaultOriginConnectTimeout, positive),
		OriginResponse: v.duration("timeouts.origin_response", r.OriginResponse, DefaultOriginResponseTimeout, positive),
		Shutdown:       v.duration("timeouts.shutdown", r.Shutdown, DefaultShutdownTimeout, positive),
	}
}

func (v *validator) log(r RawLog) Log {
	l := Log{
		Level:        str(r.Level, DefaultLogLevel),
		Access:       boolOr(r.Access, DefaultLogAccess),
		AccessFile:   str(r.AccessFile, DefaultAccessFile),
		AccessSample: DefaultAccessSample,
	}
	if r.AccessSample != nil {
		l.AccessSample = *r.AccessSample
		if l.AccessSample < 0 || l.AccessSample > 1 || l.AccessSample != l.AccessSample {
			v.errorf("log.access_sample", "must be between 0 and 1, got %v", *r.AccessSample)
		}
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.errorf("log.level", "unknown level %q; allowed: debug, info, warn, error", l.Level)
	}
	if l.AccessFile == "" || l.AccessFile == "-" {
		l.AccessFile = "-"
		return l
	}
	l.AccessFile = v.resolve(l.AccessFile)
	dir := filepath.Dir(l.AccessFile)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		v.errorf("log.access_file", "the directory %q of the access log does not exist", dir)
	}
	return l
}

func (v *validator) pools(raws []RawPool) []Pool {
	out := make([]Pool, len(raws))
	names := make(map[string]int)
	for i, r := range raws {
		pp := idx("pools", i)
		p := &out[i]
		if r.Name == nil {
			v.errorf(pp+".name", "required: the name routes use to refer to this pool")
		} else {
			p.Name = *r.Name
			if err := checkPoolName(p.Name); err != nil {
				v.errorf(pp+".name", "%v", err)
			}
			// A badly formed name still counts as defined, so references
			// to it do not raise a second error.
			if first, dup := names[p.Name]; dup {
				v.errorf(pp+".name", "pool name %q is already used by pools[%d]; names must be unique", p.Name, first)
			} else if p.Name != "" {
				names[p.Name] = i
			}
		}
		v.pool(pp, r, p)
	}
	v.failovers(raws, out, names)
	return out
}

func (v *validator) pool(pp string, r RawPool, p *Pool) {
	if len(r.Members) == 0 {
		v.errorf(pp+".members", "at least one member is required, such as:  members: [\"http://127.0.0.1:9000\"]")
	}
	hosts := make(map[string]int)
	anyHTTPS := false
	for j, rm := range r.Members {
		mp := idx(pp+".members", j)
		m := Member{Weight: v.intIn(mp+".weight", rm.Weight, DefaultMemberWeight, 1, 1000)}
		if rm.URL == nil {
			v.errorf(mp+".url", "required: the member's address, such as \"http://127.0.0.1:9000\"")
		} else if u, err := memberURL(*rm.URL); err != nil {
			v.errorf(mp+".url", "%v", err)
		} else {
			m.URL = u
			anyHTTPS = anyHTTPS || u.Scheme == "https"
			if first, dup := hosts[u.Scheme+"://"+u.Host]; dup {
				v.errorf(mp+".url", "member %q is listed twice (also %s.members[%d]); use weight to give a member more traffic", u.String(), pp, first)
			} else {
				hosts[u.Scheme+"://"+u.Host] = j
			}
		}
		p.Members = append(p.Members, m)
	}

	p.Balance = Balance(str(r.Balance, string(DefaultBalance)))
	switch p.Balance {
	case BalanceRoundRobin, BalanceLeastRequests, BalanceHash:
	default:
		v.errorf(pp+".balance", "unknown balance %q; allowed: round_robin, least_requests, hash", string(p.Balance))
	}
	switch {
	case p.Balance == BalanceHash && r.Hash == nil:
		v.errorf(pp+".hash", "required when balance is hash: give one of header, cookie or client_ip: true")
	case p.Balance != BalanceHash && r.Hash != nil:
		v.errorf(pp+".hash", "only allowed with balance: hash (balance is %q)", string(p.Balance))
	case r.Hash != nil:
		p.Hash = v.hash(pp+".hash", r.Hash)
	}

	p.Protocol = Protocol(str(r.Protocol, string(DefaultProtocol)))
	switch p.Protocol {
	case ProtocolHTTP1, ProtocolHTTP2, ProtocolAuto:
	default:
		v.errorf(pp+".protocol", "unknown protocol %q; allowed: http1, http2, auto", string(p.Protocol))
	}

	if r.HealthCheck != nil {
		p.HealthCheck = v.healthCheck(pp+".health_check", r.HealthCheck)
	}
	p.Passive = PassiveHealth{
		MaxFailures: v.intIn(pp+".passive.max_failures", r.Passive.MaxFailures, DefaultPassiveMaxFailures, 0, 1_000_000),
		Window:      v.duration(pp+".passive.window", r.Passive.Window, DefaultPassiveWindow, positive),
		EjectFor:    v.duration(pp+".passive.eject_for", r.Passive.EjectFor, DefaultPassiveEjectFor, positive),
	}
	p.Retries = v.intIn(pp+".retries", r.Retries, DefaultRetries, 0, 10)
	p.Failover = str(r.Failover, "")
	if r.TLS != nil {
		if !anyHTTPS && len(r.Members) > 0 {
			v.errorf(pp+".tls", "no member of this pool uses https, so tls would never be used; use https:// member URLs or remove tls")
		}
		p.TLS = v.originTLS(pp+".tls", r.TLS)
	}
	p.MaxIdleConnsPerHost = v.intIn(pp+".max_idle_conns_per_host", r.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost, 1, 1_000_000)
	p.MaxConnsPerMember = v.intIn(pp+".max_conns_per_member", r.MaxConnsPerMember, 0, 0, 1_000_000)
	p.ConnectTimeout = v.duration(pp+".connect_timeout", r.ConnectTimeout, 0, nonNegative)
	p.ResponseTimeout = v.duration(pp+".response_timeout", r.ResponseTimeout, 0, nonNegative)
}

func (v *validator) hash(path string, r *RawHash) HashKey {
	var given []string
	var k HashKey
	if r.Header != nil {
		given = append(given, "header")
		k = HashKey{Kind: HashHeader, Name: textproto.CanonicalMIMEHeaderKey(*r.Header)}
		if err := checkHeaderName(*r.Header); err != nil {
			v.errorf(path+".header", "%v", err)
		}
	}
	if r.Cookie != nil {
		given = append(given, "cookie")
		k = HashKey{Kind: HashCookie, Name: *r.Cookie}
		if !validToken(*r.Cookie) {
			v.errorf(path+".cookie", "invalid cookie name %q: use a token (letters, digits and !#$%%&'*+-.^_`|~)", *r.Cookie)
		}
	}
	if r.ClientIP != nil {
		if !*r.ClientIP {
			v.errorf(path+".client_ip", "must be true when given; to hash on something else remove it and give header or cookie")
		} else {
			given = append(given, "client_ip")
			k = HashKey{Kind: HashClientIP}
		}
	}
	switch {
	case len(given) == 0 && r.ClientIP == nil:
		v.errorf(path, "give exactly one of header, cookie or client_ip: true")
	case len(given) > 1:
		v.errorf(path, "give exactly one of header, cookie or client_ip, not %s", strings.Join(given, " and "))
	}
	return k
}

// validToken reports whether s is an RFC 9110 token (which allows "_").
func validToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

func (v *validator) healthCheck(path string, r *RawHealthCheck) *HealthCheck {
	h := &HealthCheck{
		Path:               str(r.Path, ""),
		Host:               str(r.Host, ""),
		Interval:           v.duration(path+".interval", r.Interval, DefaultHealthInterval, positive),
		Timeout:            v.duration(path+".timeout", r.Timeout, DefaultHealthTimeout, positive),
		HealthyThreshold:   v.intIn(path+".healthy_threshold", r.HealthyThreshold, DefaultHealthyThreshold, 1, 1000),
		UnhealthyThreshold: v.intIn(path+".unhealthy_threshold", r.UnhealthyThreshold, DefaultUnhealthyThreshold, 1, 1000),
		ExpectStatus:       DefaultHealthExpectStatus,
	}
	if r.Path == nil {
		v.errorf(path+".path", "required: the path to probe, such as /healthz")
	} else {
		p, _, _ := strings.Cut(h.Path, "?")
		if err := checkPath(p); err != nil {
			v.errorf(path+".path", "%v", err)
		} else if strings.ContainsFunc(h.Path, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }) {
			v.errorf(path+".path", "path %q contains a space, control character or \"#\"", h.Path)
		}
	}
	if h.Host != "" {
		if err := checkHostPort(h.Host); err != nil {
			v.errorf(path+".host", "%v", err)
		}
	}
	if h.Timeout > 0 && h.Interval > 0 && h.Timeout >= h.Interval {
		v.errorf(path+".timeout", "timeout (%s%s) must be less than interval (%s%s)",
			formatDuration(h.Timeout), defaultNote(r.Timeout == nil), formatDuration(h.Interval), defaultNote(r.Interval == nil))
	}
	if r.ExpectStatus != nil {
		h.ExpectStatus = *r.ExpectStatus
		if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
			v.errorf(path+".expect_status", "must be an HTTP status from 100 to 599, or 0 for any 2xx; got %d", h.ExpectStatus)
		}
	}
	return h
}

func defaultNote(isDefault bool) string {
	if isDefault {
		return ", the default"
	}
	return ""
}

func (v *validator) originTLS(path string, r *RawOriginTLS) *OriginTLS {
	t := &OriginTLS{
		ServerName:         str(r.ServerName, ""),
		InsecureSkipVerify: boolOr(r.InsecureSkipVerify, DefaultOriginInsecureSkipVerify),
	}
	if r.CAFile != nil {
		t.CAFile = v.caFile(path+".ca_file", *r.CAFile)
	}
	switch {
	case r.CertFile != nil && r.KeyFile != nil:
		t.CertFile, t.KeyFile = v.keyPair(path+".cert_file", *r.CertFile, path+".key_file", *r.KeyFile)
	case r.CertFile != nil:
		v.errorf(path+".key_file", "required with cert_file: the PEM private key of the client certificate")
	case r.KeyFile != nil:
		v.errorf(path+".cert_file", "required with key_file: the PEM client certificate")
	}
	if t.ServerName != "" {
		if _, err := netip.ParseAddr(t.ServerName); err != nil {
			if err := checkHostname(t.ServerName, true); err != nil {
				v.errorf(path+".server_name", "%v", err)
			}
		}
	}
	return t
}

// failovers checks that each failover names another pool and that no chain
// of failovers loops; a loop is reported once, at its first pool in the file.
func (v *validator) failovers(raws []RawPool, pools []Pool, names map[string]int) {
	known := slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	next := make([]int, len(pools))
	for i, p := range pools {
		next[i] = -1
		if raws[i].Failover == nil {
			continue
		}
		fp := idx("pools", i) + ".failover"
		j, ok := names[p.Failover]
		switch {
		case p.Failover == p.Name:
			v.errorf(fp, "a pool cannot fail over to itself")
		case !ok:
			v.errorf(fp, "unknown pool %q%s", p.Failover, poolHint(p.Failover, known))
		default:
			next[i] = j
		}
	}
	reported := make([]bool, len(pools))
	for start := range pools {
		seen := map[int]int{}
		var chain []int
		for i := start; i >= 0 && !reported[i]; i = next[i] {
			if at, loop := seen[i]; loop {
				cycle := chain[at:]
				first := slices.Min(cycle)
				for _, c := range cycle {
					reported[c] = true
				}
				k := slices.Index(cycle, first)
				cycle = append(cycle[k:], cycle[:k]...)
				var b strings.Builder
				for _, c := range cycle {
					b.WriteString(pools[c].Name + " → ")
				}
				b.WriteString(pools[first].Name)
				v.errorf(idx("pools", first)+".failover", "failover loops: %s; a chain of failovers must end at a pool without failover", b.String())
				break
			}
			seen[i] = len(chain)
			chain = append(chain, i)
		}
	}
}

// poolHint suggests a pool name or lists the defined ones.
func poolHint(name string, known []string) string {
	if len(known) == 0 {
		return "; no pools are defined (add a pools section)"
	}
	if s := suggest(name, known); strings.Contains(s, "did you mean") {
		return s + "; defined pools: " + strings.Join(known, ", ")
	}
	return "; defined pools: " + strings.Join(known, ", ")
}

func (v *validator) routes(raws []RawRoute, pools []Pool) []Route {
	if len(raws) == 0 {
		v.errorf("routes", "at least one route is required")
		return nil
	}
	var known []string
	poolSet := make(map[string]bool)
	for _, p := range pools {
		if p.Name != "" && !poolSet[p.Name] {
			poolSet[p.Name] = true
			known = append(known, p.Name)
		}
	}
	sort.Strings(known)
	out := make([]Route, len(raws))
	names := make(map[string]int)
	for i, r := range raws {
		rp := idx("routes", i)
		rt := &out[i]
		rt.Index, rt.FieldPath = i, rp
		if r.Name == nil {
			v.errorf(rp+".name", "required: a name for logs and error messages")
		} else {
			rt.Name = *r.Name
			if err := checkName(rt.Name); err != nil {
				v.errorf(rp+".name", "%v", err)
			} else if first, dup := names[rt.Name]; dup {
				v.errorf(rp+".name", "route name %q is already used by routes[%d]; names must be unique", rt.Name, first)
			} else {
				names[rt.Name] = i
			}
		}
		rt.Match = v.match(rp+".match", r.Match)

		switch {
		case r.Pool == nil && r.Redirect == nil:
			v.errorf(rp, "needs pool (a pool to forward to) or redirect")
		case r.Pool != nil && r.Redirect != nil && r.Redirect.MapFile == nil:
			v.errorf(rp+".redirect", "give either pool or redirect, not both; a pool next to a redirect is only allowed with redirect.map_file, for the paths the map does not list")
		}
		if r.Pool != nil {
			rt.Pool = *r.Pool
			if !poolSet[rt.Pool] {
				v.errorf(rp+".pool", "unknown pool %q%s", rt.Pool, poolHint(rt.Pool, known))
			}
		}
		if r.Redirect != nil {
			rt.Redirect = v.redirect(rp+".redirect", r.Redirect)
		}
		if r.Rewrite != nil {
			if r.Pool == nil {
				v.errorf(rp+".rewrite", "needs pool: a rewrite changes the path sent to an origin")
			}
			rt.Rewrite = v.rewrite(rp+".rewrite", r.Rewrite)
		}
		rt.RequestHeaders = v.headerOps(rp+".request_headers", r.RequestHeaders)
		rt.ResponseHeaders = v.headerOps(rp+".response_headers", r.ResponseHeaders)
		if r.MaxBodyBytes != nil {
			rt.MaxBodyBytes = v.size(rp+".max_body_bytes", r.MaxBodyBytes, 0)
		}
		rt.ResponseTimeout = v.duration(rp+".response_timeout", r.ResponseTimeout, 0, nonNegative)
	}
	return out
}

func (v *validator) match(mp string, r RawMatch) Match {
	var m Match
	seen := make(map[string]int)
	for j, h := range r.Hosts {
		hp := idx(mp+".hosts", j)
		h = strings.ToLower(h)
		if err := checkMatchHost(h); err != nil {
			v.errorf(hp, "%v", err)
			continue
		}
		if first, dup := seen[h]; dup {
			v.errorf(hp, "host %q is listed twice (also hosts[%d])", h, first)
			continue
		}
		seen[h] = j
		m.Hosts = append(m.Hosts, h)
	}

	kinds := []struct {
		key  string
		val  *string
		kind PathKind
	}{
		{"path_prefix", r.PathPrefix, PathPrefix},
		{"path_exact", r.PathExact, PathExact},
		{"path_pattern", r.PathPattern, PathPattern},
	}
	var given []string
	for _, k := range kinds {
		if k.val == nil {
			continue
		}
		given = append(given, k.key)
		if len(given) > 1 {
			continue
		}
		m.PathKind, m.Path = k.kind, *k.val
		if err := checkPath(m.Path); err != nil {
			v.errorf(mp+"."+k.key, "%v", err)
		} else if k.kind == PathPattern {
			if err := checkPattern(m.Path); err != nil {
				v.errorf(mp+"."+k.key, "%v", err)
			}
		}
	}
	if len(given) > 1 {
		v.errorf(mp+"."+given[1], "give at most one of path_prefix, path_exact and path_pattern; this match has %s", strings.Join(given, " and "))
	}

	methods := make(map[string]int)
	for j, meth := range r.Methods {
		p := idx(mp+".methods", j)
		if !validToken(meth) {
			v.errorf(p, "invalid method %q: a method is a token such as GET or PURGE", meth)
			continue
		}
		meth = strings.ToUpper(meth)
		if first, dup := methods[meth]; dup {
			v.errorf(p, "method %s is listed twice (also methods[%d])", meth, first)
			continue
		}
		methods[meth] = j
		m.Methods = append(m.Methods, meth)
	}

	headers := make(map[string]int)
	for j, rh := range r.Headers {
		hp := idx(mp+".headers", j)
		var hm HeaderMatch
		if rh.Name == nil {
			v.errorf(hp+".name", "required: the header name, such as X-Env")
		} else if err := checkHeaderName(*rh.Name); err != nil {
			v.errorf(hp+".name", "%v", err)
		} else {
			hm.Name = textproto.CanonicalMIMEHeaderKey(*rh.Name)
			if first, dup := headers[hm.Name]; dup {
				v.errorf(hp+".name", "header %s is matched twice (also headers[%d]); give one condition per header", hm.Name, first)
			}
			headers[hm.Name] = j
		}
		present := rh.Present != nil && *rh.Present
		switch {
		case rh.Value != nil && present:
			v.errorf(hp, "give value or present: true, not both")
		case rh.Value != nil:
			hm.Value = *rh.Value
			if err := checkHeaderValue(hm.Value); err != nil {
				v.errorf(hp+".value", "%v", err)
			}
		case present:
			hm.Present = true
		case rh.Present != nil:
			v.errorf(hp+".present", "present: false matches nothing; give value, or present: true")
		default:
			v.errorf(hp, "give value (the header must equal it) or present: true (the header must be there)")
		}
		m.Headers = append(m.Headers, hm)
	}
	return m
}

var redirectStatuses = []int{301, 302, 303, 307, 308}

func (v *validator) redirect(path string, r *RawRedirect) *Redirect {
	rd := &Redirect{
		Status:    DefaultRedirectStatus,
		KeepQuery: boolOr(r.KeepQuery, DefaultRedirectKeepQuery),
	}
	if r.Status != nil {
		rd.Status = *r.Status
		if !slices.Contains(redirectStatuses, rd.Status) {
			v.errorf(path+".status", "unsupported redirect status %d; allowed: 301, 302, 303, 307, 308", rd.Status)
		}
	}
	switch {
	case r.To != nil && r.MapFile != nil:
		v.errorf(path+".map_file", "give to or map_file, not both: a map redirects only the paths it lists (use another route for the rest)")
	case r.To == nil && r.MapFile == nil:
		v.errorf(path, "give to (the target) or map_file (a file of bulk redirects)")
	}
	if r.To != nil {
		rd.To = *r.To
		if err := checkRedirectTarget(rd.To); err != nil {
			v.errorf(path+".to", "%v", err)
		}
	}
	if r.MapFile != nil {
		rd.MapFile, rd.Map = v.redirectMap(path+".map_file", *r.MapFile)
	}
	return rd
}

// redirectMap loads a bulk redirect file. Its errors name the map file and
// the line in it, with the map_file field as the path.
func (v *validator) redirectMap(path, name string) (string, map[string]string) {
	resolved, data, ok := v.readFile(path, name, maxMapFileBytes)
	if !ok {
		return resolved, nil
	}
	m := make(map[string]string)
	firstLine := make(map[string]int)
	mapErr := func(line, col int, format string, args ...any) {
		v.errs = append(v.errs, &Error{File: resolved, Position: Position{Line: line, Column: col}, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		col := strings.Index(line, trimmed) + 1
		fields := strings.Fields(trimmed)
		if len(fields) != 2 {
			mapErr(n, col, "want \"<from-path> <target>\" (two fields separated by spaces), got %d field(s)", len(fields))
			continue
		}
		from, to := fields[0], fields[1]
		if err := checkPath(from); err != nil {
			mapErr(n, col, "from-path: %v", err)
			continue
		}
		if err := checkRedirectTarget(to); err != nil {
			mapErr(n, strings.LastIndex(line, to)+1, "%v", err)
			continue
		}
		if first, dup := firstLine[from]; dup {
			mapErr(n, col, "%q is listed twice (first at line %d)", from, first)
			continue
		}
		firstLine[from] = n
		m[from] = to
	}
	if len(m) == 0 && !v.hasErrorIn(resolved) {
		v.errorf(path, "map file %q has no redirects; each line is \"<from-path> <target>\"", resolved)
	}
	return resolved, m
}

func (v *validator) hasErrorIn(file string) bool {
	return slices.ContainsFunc(v.errs, func(e *Error) bool { return e.File == file })
}

func (v *validator) rewrite(path string, r *RawRewrite) *Rewrite {
	rw := &Rewrite{StripPrefix: str(r.StripPrefix, ""), ReplacePrefix: str(r.ReplacePrefix, DefaultReplacePrefix)}
	if r.StripPrefix == nil && r.ReplacePrefix == nil {
		v.errorf(path, "give strip_prefix, replace_prefix or both")
	}
	if r.StripPrefix != nil {
		if err := checkPath(rw.StripPrefix); err != nil {
			v.errorf(path+".strip_prefix", "%v", err)
		}
	}
	if rw.ReplacePrefix != "" {
		if err := checkPath(rw.ReplacePrefix); err != nil {
			v.errorf(path+".replace_prefix", "%v (or \"\" for \"/\")", err)
		}
	}
	return rw
}

func (v *validator) headerOps(path string, r RawHeaderOps) HeaderOps {
	var ops HeaderOps
	for _, list := range []struct {
		key string
		raw RawHeaderMap
		out *[]Header
	}{{"set", r.Set, &ops.Set}, {"add", r.Add, &ops.Add}} {
		seen := make(map[string]string)
		for _, h := range list.raw {
			hp := path + "." + list.key + "." + h.Name
			name, ok := v.editableHeader(hp, h.Name)
			if !ok {
				continue
			}
			if first, dup := seen[name]; dup {
				v.errorf(hp, "header %s is given twice (also as %q)", name, first)
				continue
			}
			seen[name] = h.Name
			if err := checkHeaderValue(h.Value); err != nil {
				v.errorf(hp, "%v", err)
			}
			*list.out = append(*list.out, Header{Name: name, Value: h.Value})
		}
	}
	seen := make(map[string]int)
	for j, n := range r.Remove {
		hp := idx(path+".remove", j)
		name, ok := v.editableHeader(hp, n)
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			v.errorf(hp, "header %s is listed twice (also remove[%d])", name, first)
			continue
		}
		seen[name] = j
		ops.Remove = append(ops.Remove, name)
	}
	return ops
}

// editableHeader checks a header name in request_headers or
// response_headers and returns it in canonical form.
func (v *validator) editableHeader(path, name string) (string, bool) {
	if err := checkHeaderName(name); err != nil {
		v.errorf(path, "%v", err)
		return "", false
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if managedHeaders[canon] {
		v.errorf(path, "header %s is managed by the proxy and cannot be edited", canon)
		return "", false
	}
	return canon, true
}
