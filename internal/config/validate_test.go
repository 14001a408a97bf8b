package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testFile names in-memory configurations so relative paths resolve in
// testdata (certs/..., valid/redirects.txt).
const testFile = "testdata/t.yaml"

// Building blocks for table tests; line numbers in the cases count from
// the top of the concatenation.
const (
	head  = "version: 1\nlisteners: [{address: \":8080\"}]\n"              // lines 1-2
	pool  = "pools: [{name: app, members: [\"http://127.0.0.1:9000\"]}]\n" // line 3
	route = "routes: [{name: r, pool: app}]\n"                             // line 4 (after head+pool)
	base  = head + pool + route                                            // a valid config
)

type errCase struct {
	name string
	yaml string
	want string // substring of the error's text (path and message)
	at   string // "line:col" of that error
}

// runErrCases loads each case and requires an error containing want at at.
func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes(testFile, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error; want %q at %s", tc.want, tc.at)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			for _, e := range list {
				if strings.Contains(e.Error(), tc.want) {
					if got := fmt.Sprintf("%d:%d", e.Line, e.Column); got != tc.at {
						t.Errorf("error %q at %s, want %s", e.Error(), got, tc.at)
					}
					return
				}
			}
			t.Errorf("no error contains %q; got:\n%v", tc.want, err)
		})
	}
}

func TestValidBase(t *testing.T) {
	if _, err := LoadBytes(testFile, []byte(base)); err != nil {
		t.Fatalf("base config is invalid: %v", err)
	}
}

func TestValidateTopLevel(t *testing.T) {
	runErrCases(t, []errCase{
		{"version missing", "listeners: [{address: \":8080\"}]\n" + pool + route, `version: required; add "version: 1"`, "0:0"},
		{"version 2", "version: 2\n" + base[11:], "version: unsupported version 2; the only supported version is 1", "1:10"},
		{"no listeners", "version: 1\n" + pool + route, "listeners: at least one listener is required", "0:0"},
		{"empty listeners", "version: 1\nlisteners: []\n" + pool + route, "listeners: at least one listener is required", "2:1"},
		{"no routes", head + pool, "routes: at least one route is required", "0:0"},
		{"admin address bad", base + "admin: {address: \"nowhere\"}\n", `admin.address: invalid address "nowhere": want host:port`, "5:18"},
		{"admin clashes", base + "admin: {address: \"127.0.0.1:8080\"}\n", `admin.address: address "127.0.0.1:8080" clashes with listeners[0] (":8080")`, "5:18"},
		{"admin default clashes", "version: 1\nlisteners: [{address: \":9901\"}]\n" + pool + route,
			`admin.address: address "127.0.0.1:9901" clashes with listeners[0] (":9901"); each listener needs its own address; this is the default admin address`, "0:0"},
		{"trusted proxy host bits", base + "trusted_proxies: [\"192.168.1.1/16\"]\n", `trusted_proxies[0]: CIDR "192.168.1.1/16" has bits set after the prefix length; did you mean "192.168.0.0/16"?`, "5:19"},
		{"trusted proxy garbage", base + "trusted_proxies: [\"10.0.0.0/33\"]\n", `trusted_proxies[0]: invalid CIDR "10.0.0.0/33"`, "5:19"},
		{"trusted proxy zone", base + "trusted_proxies: [\"fe80::1%eth0\"]\n", `trusted_proxies[0]: invalid address "fe80::1%eth0": want an IP address (no zone)`, "5:19"},
		{"size unit", base + "limits: {max_body_bytes: 10mb}\n", `limits.max_body_bytes: invalid size "10mb": want an integer number of bytes or an integer with a unit: B, KiB, MiB, GiB`, "5:26"},
		{"size fraction", base + "limits: {max_uri_bytes: 1.5KiB}\n", `limits.max_uri_bytes: invalid size "1.5KiB"`, "5:25"},
		{"size zero", base + "limits: {max_header_bytes: 0}\n", `limits.max_header_bytes: must be greater than 0, got "0"`, "5:28"},
		{"size negative", base + "limits: {max_header_bytes: -1}\n", `limits.max_header_bytes: invalid size "-1"`, "5:28"},
		{"size overflow", base + "limits: {max_body_bytes: 99999999999GiB}\n", `limits.max_body_bytes: invalid size "99999999999GiB": too large`, "5:26"},
		{"duration unit", base + "timeouts:\n  read: 10x\n", `timeouts.read: invalid duration "10x": time: unknown unit "x" in duration "10x"`, "6:9"},
		{"duration bare number", base + "timeouts:\n  idle: 10\n", `timeouts.idle: invalid duration "10": time: missing unit in duration "10" (use Go duration syntax`, "6:9"},
		{"duration zero", base + "timeouts:\n  read_header: 0s\n", `timeouts.read_header: must be greater than 0, got "0s"`, "6:16"},
		{"write negative", base + "timeouts:\n  write: -5s\n", `timeouts.write: must not be negative, got "-5s"`, "6:10"},
		{"shutdown zero", base + "timeouts:\n  shutdown: 0\n", `timeouts.shutdown: must be greater than 0, got "0"`, "6:13"},
		{"log level", base + "log: {level: INFO}\n", `log.level: unknown level "INFO"; allowed: debug, info, warn, error`, "5:14"},
		{"access file dir", base + "log: {access_file: no/such/dir/access.log}\n", `log.access_file: the directory "testdata/no/such/dir" of the access log does not exist`, "5:20"},
	})
}

func TestValidateListeners(t *testing.T) {
	tail := pool + route
	runErrCases(t, []errCase{
		{"address missing", "version: 1\nlisteners:\n  - name: a\n" + tail, "listeners[0].address: required: where to listen, as host:port", "3:5"},
		{"address no port", "version: 1\nlisteners:\n  - address: localhost\n" + tail, `listeners[0].address: invalid address "localhost": want host:port`, "3:14"},
		{"port range", "version: 1\nlisteners:\n  - address: \":65536\"\n" + tail, `port "65536" must be a number from 0 to 65535`, "3:14"},
		{"port name", "version: 1\nlisteners:\n  - address: \":http\"\n" + tail, `port "http" must be a number from 0 to 65535`, "3:14"},
		{"bad host", "version: 1\nlisteners:\n  - address: \"bad_host:80\"\n" + tail, `invalid address "bad_host:80": invalid host name "bad_host"`, "3:14"},
		{"same address", "version: 1\nlisteners:\n  - address: \"127.0.0.1:80\"\n  - address: \"127.0.0.1:80\"\n" + tail,
			`listeners[1].address: address "127.0.0.1:80" clashes with listeners[0] ("127.0.0.1:80")`, "4:14"},
		{"wildcard clash", "version: 1\nlisteners:\n  - address: \"127.0.0.1:80\"\n  - address: \":80\"\n" + tail,
			`listeners[1].address: address ":80" clashes with listeners[0]`, "4:14"},
		{"name format", "version: 1\nlisteners:\n  - {name: \"a b\", address: \":1\"}\n" + tail, `listeners[0].name: invalid name "a b"`, "3:12"},
		{"name duplicate", "version: 1\nlisteners:\n  - {name: x, address: \":1\"}\n  - {name: x, address: \":2\"}\n" + tail,
			`listeners[1].name: listener name "x" is already used by listeners[0]`, "4:12"},
		{"default name duplicate", "version: 1\nlisteners:\n  - {name: listener-1, address: \":1\"}\n  - {address: \":2\"}\n" + tail,
			`listeners[1].name: listener name "listener-1" is already used by listeners[0]`, "4:5"},
		{"tls empty cert", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {}\n" + tail, "listeners[0].tls.cert_file: required", "4:5"},
		{"tls empty key", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {}\n" + tail, "listeners[0].tls.key_file: required", "4:5"},
		{"tls cert missing", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {key_file: certs/server-key.pem}\n" + tail,
			"listeners[0].tls.cert_file: required", "4:5"},
		{"tls key missing", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: certs/server.pem}\n" + tail,
			"listeners[0].tls.key_file: required", "4:5"},
		{"tls file missing", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: nope.pem, key_file: certs/server-key.pem}\n" + tail,
			`listeners[0].tls.cert_file: cannot read "testdata/nope.pem": no such file or directory`, "4:22"},
		{"tls pair mismatch", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: certs/server.pem, key_file: certs/client-key.pem}\n" + tail,
			`listeners[0].tls.cert_file: cannot load the certificate "testdata/certs/server.pem" with the key "testdata/certs/client-key.pem": tls: private key does not match public key`, "4:22"},
		{"tls not pem", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: valid/redirects.txt, key_file: certs/server-key.pem}\n" + tail,
			`cannot load the certificate "testdata/valid/redirects.txt" with the key "testdata/certs/server-key.pem": tls: failed to find any PEM data in certificate input`, "4:22"},
		{"tls directory", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: certs, key_file: certs/server-key.pem}\n" + tail,
			`listeners[0].tls.cert_file: "testdata/certs" is not a regular file`, "4:22"},
		{"client ca not pem", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: certs/server.pem, key_file: certs/server-key.pem, client_ca_file: certs/server-key.pem}\n" + tail,
			`listeners[0].tls.client_ca_file: no PEM certificate found in "testdata/certs/server-key.pem"`, "4:88"},
		{"min version", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: certs/server.pem, key_file: certs/server-key.pem, min_version: 1.1}\n" + tail,
			`listeners[0].tls.min_version: unsupported TLS version "1.1"; allowed: "1.2", "1.3"`, "4:85"},
		{"h2c with tls", "version: 1\nlisteners:\n  - address: \":1\"\n    tls: {cert_file: certs/server.pem, key_file: certs/server-key.pem}\n    h2c: true\n" + tail,
			"listeners[0].h2c: h2c (cleartext HTTP/2) is only for plain listeners", "5:10"},
	})
}

func TestValidatePools(t *testing.T) {
	p := func(body string) string { return head + "pools:\n  - name: app\n" + body + route }
	// Pool bodies start on line 5.
	m := "    members: [\"http://127.0.0.1:9000\"]\n"
	runErrCases(t, []errCase{
		{"name missing", head + "pools:\n  - members: [\"http://127.0.0.1:9000\"]\n" + route, "pools[0].name: required", "4:5"},
		{"name format", head + "pools:\n  - name: My-Pool\n" + m + route, `pools[0].name: invalid pool name "My-Pool": use lower-case letters, digits, "_" and "-"`, "4:11"},
		{"name duplicate", head + "pools:\n  - {name: app, members: [\"http://a:1\"]}\n  - {name: app, members: [\"http://b:1\"]}\n" + route,
			`pools[1].name: pool name "app" is already used by pools[0]`, "5:12"},
		{"no members", p("    members: []\n"), "pools[0].members: at least one member is required", "5:5"},
		{"members missing", p(""), "pools[0].members: at least one member is required", "4:5"},
		{"member url missing", p("    members:\n      - weight: 2\n"), "pools[0].members[0].url: required", "6:9"},
		{"member no scheme", p("    members: [\"127.0.0.1:9000\"]\n"), `invalid member URL "127.0.0.1:9000": missing scheme; write "http://127.0.0.1:9000"`, "5:15"},
		{"member scheme", p("    members: [\"ftp://h:1\"]\n"), `pools[0].members[0].url: member URL "ftp://h:1": scheme must be http or https`, "5:15"},
		{"member path", p("    members: [\"http://h:1/api\"]\n"), `member URL "http://h:1/api" must not have a path`, "5:15"},
		{"member query", p("    members: [\"http://h:1/?a=b\"]\n"), `member URL "http://h:1/?a=b" must not have a query`, "5:15"},
		{"member fragment", p("    members: [\"http://h:1#x\"]\n"), `must not have a fragment`, "5:15"},
		{"member userinfo redacted", p("    members: [\"http://u:hunter2@h:1\"]\n"), `member URL "http://u:xxxxx@h:1" must not contain user info`, "5:15"},
		{"member bad port", p("    members: [\"http://h:0\"]\n"), `member URL "http://h:0": port "0" must be a number from 1 to 65535`, "5:15"},
		{"member empty port", p("    members: [\"http://h:\"]\n"), `member URL "http://h:" has an empty port`, "5:15"},
		{"member bad host", p("    members: [\"http://-h-:80\"]\n"), `host name "-h-" has a label starting or ending with "-"`, "5:15"},
		{"member duplicate", p("    members: [\"http://h\", \"http://h:80/\"]\n"), `pools[0].members[1].url: member "http://h:80" is listed twice (also pools[0].members[0])`, "5:27"},
		{"weight range", p("    members:\n      - {url: \"http://h:1\", weight: 1001}\n"), "pools[0].members[0].weight: must be from 1 to 1000, got 1001", "6:37"},
		{"balance", p(m + "    balance: random\n"), `pools[0].balance: unknown balance "random"; allowed: round_robin, least_requests, hash`, "6:14"},
		{"hash missing", p(m + "    balance: hash\n"), "pools[0].hash: required when balance is hash", "4:5"},
		{"hash without balance", p(m + "    hash: {header: X-U}\n"), `pools[0].hash: only allowed with balance: hash (balance is "round_robin")`, "6:5"},
		{"hash two keys", p(m + "    balance: hash\n    hash: {header: X-U, cookie: s}\n"), "pools[0].hash: give exactly one of header, cookie or client_ip, not header and cookie", "7:5"},
		{"hash empty", p(m + "    balance: hash\n    hash: {}\n"), "pools[0].hash: give exactly one of header, cookie or client_ip: true", "7:5"},
		{"hash client_ip false", p(m + "    balance: hash\n    hash: {client_ip: false}\n"), "pools[0].hash.client_ip: must be true when given", "7:23"},
		{"hash header underscore", p(m + "    balance: hash\n    hash: {header: X_User}\n"), `pools[0].hash.header: header name "X_User" contains "_"`, "7:20"},
		{"hash cookie", p(m + "    balance: hash\n    hash: {cookie: \"a b\"}\n"), `pools[0].hash.cookie: invalid cookie name "a b"`, "7:20"},
		{"protocol", p(m + "    protocol: h2\n"), `pools[0].protocol: unknown protocol "h2"; allowed: http1, http2, auto`, "6:15"},
		{"health path missing", p(m + "    health_check: {interval: 5s}\n"), "pools[0].health_check.path: required", "6:5"},
		{"health null", p(m + "    health_check:\n"), "pools[0].health_check.path: required", "6:5"},
		{"health path relative", p(m + "    health_check: {path: healthz}\n"), `pools[0].health_check.path: path "healthz" must start with "/"`, "6:26"},
		{"health timeout default vs interval", p(m + "    health_check: {path: /h, interval: 1s}\n"),
			"pools[0].health_check.timeout: timeout (2s, the default) must be less than interval (1s)", "6:5"},
		{"health timeout vs interval", p(m + "    health_check: {path: /h, interval: 3s, timeout: 3s}\n"),
			"pools[0].health_check.timeout: timeout (3s) must be less than interval (3s)", "6:53"},
		{"health threshold", p(m + "    health_check: {path: /h, healthy_threshold: 0}\n"), "pools[0].health_check.healthy_threshold: must be from 1 to 1000, got 0", "6:49"},
		{"health expect status", p(m + "    health_check: {path: /h, expect_status: 99}\n"), "pools[0].health_check.expect_status: must be an HTTP status from 100 to 599, or 0 for any 2xx; got 99", "6:45"},
		{"health host", p(m + "    health_check: {path: /h, host: \"a b\"}\n"), `pools[0].health_check.host: invalid host name "a b"`, "6:36"},
		{"health host port", p(m + "    health_check: {path: /h, host: \"a:99999\"}\n"), `pools[0].health_check.host: invalid host "a:99999": port "99999"`, "6:36"},
		{"passive negative", p(m + "    passive: {max_failures: -1}\n"), "pools[0].passive.max_failures: must be from 0 to 1000000, got -1", "6:29"},
		{"passive window", p(m + "    passive: {window: 0s}\n"), `pools[0].passive.window: must be greater than 0, got "0s"`, "6:23"},
		{"retries", p(m + "    retries: 11\n"), "pools[0].retries: must be from 0 to 10, got 11", "6:14"},
		{"failover self", p(m + "    failover: app\n"), "pools[0].failover: a pool cannot fail over to itself", "6:15"},
		{"failover unknown", p(m+"    failover: bakup\n") + "", `pools[0].failover: unknown pool "bakup"; defined pools: app`, "6:15"},
		{"failover cycle", head + "pools:\n  - {name: a, members: [\"http://a:1\"], failover: b}\n  - {name: b, members: [\"http://b:1\"], failover: c}\n  - {name: c, members: [\"http://c:1\"], failover: b}\n  - {name: app, members: [\"http://d:1\"], failover: a}\n" + route,
			"pools[1].failover: failover loops: b → c → b", "5:50"},
		{"tls without https", p(m + "    tls: {server_name: x}\n"), "pools[0].tls: no member of this pool uses https", "6:5"},
		{"tls cert without key", p("    members: [\"https://h\"]\n    tls: {cert_file: certs/client.pem}\n"), "pools[0].tls.key_file: required with cert_file", "6:5"},
		{"tls key without cert", p("    members: [\"https://h\"]\n    tls: {key_file: certs/client-key.pem}\n"), "pools[0].tls.cert_file: required with key_file", "6:5"},
		{"tls ca missing", p("    members: [\"https://h\"]\n    tls: {ca_file: nope.pem}\n"), `pools[0].tls.ca_file: cannot read "testdata/nope.pem"`, "6:20"},
		{"tls server name", p("    members: [\"https://h\"]\n    tls: {server_name: \"a..b\"}\n"), `pools[0].tls.server_name: host name "a..b" has an empty label`, "6:24"},
		{"max idle", p(m + "    max_idle_conns_per_host: 0\n"), "pools[0].max_idle_conns_per_host: must be from 1 to 1000000, got 0", "6:30"},
		{"connect timeout negative", p(m + "    connect_timeout: -1s\n"), `pools[0].connect_timeout: must not be negative, got "-1s"`, "6:22"},
	})
}

func TestValidateRoutes(t *testing.T) {
	hp := head + pool // routes start on line 4
	r := func(body string) string { return hp + "routes:\n  - name: r\n" + body }
	// Route bodies start on line 6.
	runErrCases(t, []errCase{
		{"name missing", hp + "routes:\n  - pool: app\n", "routes[0].name: required", "5:5"},
		{"name format", hp + "routes:\n  - {name: \"my route\", pool: app}\n", `routes[0].name: invalid name "my route"`, "5:12"},
		{"name duplicate", hp + "routes:\n  - {name: r, pool: app}\n  - {name: r, pool: app}\n", `routes[1].name: route name "r" is already used by routes[0]`, "6:12"},
		{"no pool no redirect", r(""), "routes[0]: needs pool (a pool to forward to) or redirect", "5:5"},
		{"unknown pool", r("    pool: ap\n"), `routes[0].pool: unknown pool "ap" (did you mean "app"?); defined pools: app`, "6:11"},
		{"unknown pool no pools", head + "routes:\n  - {name: r, pool: app}\n", `routes[0].pool: unknown pool "app"; no pools are defined (add a pools section)`, "4:21"},
		{"pool and redirect", r("    pool: app\n    redirect: {to: /x}\n"), "routes[0].redirect: give either pool or redirect, not both", "7:5"},
		{"redirect neither", r("    redirect: {status: 301}\n"), "routes[0].redirect: give to (the target) or map_file", "6:5"},
		{"redirect both", r("    redirect: {to: /x, map_file: valid/redirects.txt}\n"), "routes[0].redirect.map_file: give to or map_file, not both", "6:34"},
		{"redirect status", r("    redirect: {to: /x, status: 200}\n"), "routes[0].redirect.status: unsupported redirect status 200; allowed: 301, 302, 303, 307, 308", "6:32"},
		{"redirect relative", r("    redirect: {to: x}\n"), `routes[0].redirect.to: invalid target "x": want an absolute http(s) URL`, "6:20"},
		{"redirect scheme", r("    redirect: {to: \"ftp://a/b\"}\n"), `routes[0].redirect.to: invalid target "ftp://a/b"`, "6:20"},
		{"redirect no host", r("    redirect: {to: \"https:///x\"}\n"), `routes[0].redirect.to: invalid target "https:///x"`, "6:20"},
		{"redirect protocol relative", r("    redirect: {to: \"//evil.example/\"}\n"), `routes[0].redirect.to: target "//evil.example/" starts with "//"`, "6:20"},
		{"redirect space", r("    redirect: {to: \"/a b\"}\n"), `routes[0].redirect.to: target "/a b" contains a space or control character`, "6:20"},
		{"redirect empty", r("    redirect: {to: \"\"}\n"), "routes[0].redirect.to: empty target", "6:20"},
		{"map file missing", r("    redirect: {map_file: nope.txt}\n"), `routes[0].redirect.map_file: cannot read "testdata/nope.txt": no such file or directory`, "6:26"},
		{"rewrite without pool", r("    redirect: {to: /x}\n    rewrite: {strip_prefix: /a}\n"), "routes[0].rewrite: needs pool", "7:5"},
		{"rewrite empty", r("    pool: app\n    rewrite: {}\n"), "routes[0].rewrite: give strip_prefix, replace_prefix or both", "7:5"},
		{"rewrite strip relative", r("    pool: app\n    rewrite: {strip_prefix: api}\n"), `routes[0].rewrite.strip_prefix: path "api" must start with "/"`, "7:29"},
		{"rewrite replace relative", r("    pool: app\n    rewrite: {replace_prefix: v1}\n"), `routes[0].rewrite.replace_prefix: path "v1" must start with "/" (or "" for "/")`, "7:31"},
		{"max body zero", r("    pool: app\n    max_body_bytes: 0\n"), `routes[0].max_body_bytes: must be greater than 0, got "0"`, "7:21"},
		{"response timeout negative", r("    pool: app\n    response_timeout: -1s\n"), `routes[0].response_timeout: must not be negative`, "7:23"},
	})
}

func TestValidateMatch(t *testing.T) {
	// The match mapping's fields are on line 7.
	m := func(body string) string {
		return head + pool + "routes:\n  - name: r\n    pool: app\n    match:\n      " + body + "\n"
	}
	runErrCases(t, []errCase{
		{"host port", m(`hosts: ["a.com:80"]`), `routes[0].match.hosts[0]: host "a.com:80" has a port`, "8:15"},
		{"host star alone", m(`hosts: ["*"]`), `routes[0].match.hosts[0]: "*" alone is not a host pattern`, "8:15"},
		{"host star inside", m(`hosts: ["a.*.com"]`), `invalid host "a.*.com": "*" is only allowed as the whole first label`, "8:15"},
		{"host star partial", m(`hosts: ["*a.com"]`), `invalid host "*a.com"`, "8:15"},
		{"host underscore", m(`hosts: ["a_b.com"]`), `invalid host name "a_b.com"`, "8:15"},
		{"host trailing dot", m(`hosts: ["a.com."]`), `host name "a.com." ends with a dot`, "8:15"},
		{"host empty label", m(`hosts: ["a..com"]`), `host name "a..com" has an empty label`, "8:15"},
		{"host long label", m(`hosts: ["` + strings.Repeat("a", 64) + `.com"]`), "has a label longer than 63 characters", "8:15"},
		{"host ipv6", m(`hosts: ["[::1]"]`), "IPv6 literals are not supported", "8:15"},
		{"host duplicate case", m(`hosts: ["a.com", "A.com"]`), `routes[0].match.hosts[1]: host "a.com" is listed twice (also hosts[0])`, "8:24"},
		{"two path kinds", m("path_prefix: /a\n      path_exact: /b"), "routes[0].match.path_exact: give at most one of path_prefix, path_exact and path_pattern; this match has path_prefix and path_exact", "9:19"},
		{"prefix relative", m("path_prefix: api"), `routes[0].match.path_prefix: path "api" must start with "/"`, "8:20"},
		{"prefix empty", m(`path_prefix: ""`), `routes[0].match.path_prefix: must not be empty`, "8:20"},
		{"exact double slash", m("path_exact: /a//b"), `routes[0].match.path_exact: path "/a//b" contains "//"`, "8:19"},
		{"exact dot segment", m("path_exact: /a/./b"), `path "/a/./b" contains a "." segment`, "8:19"},
		{"exact dotdot", m("path_exact: /a/.."), `path "/a/.." contains a ".." segment`, "8:19"},
		{"exact query", m(`path_exact: "/a?b=1"`), `path "/a?b=1" contains "?" or "#"`, "8:19"},
		{"exact control", m(`path_exact: "/a\tb"`), `path "/a\tb" contains a control character`, "8:19"},
		{"pattern partial var", m("path_pattern: /users/id{id}"), `routes[0].match.path_pattern: pattern "/users/id{id}": segment "id{id}": a variable must fill a whole segment`, "8:21"},
		{"pattern unclosed", m("path_pattern: /users/{id"), `segment "{id": a variable must fill a whole segment`, "8:21"},
		{"pattern rest not last", m("path_pattern: /a/{rest...}/b"), `"{rest...}" matches the rest of the path, so it must be the last segment`, "8:21"},
		{"pattern rest trailing slash", m("path_pattern: /a/{rest...}/"), `must be the last segment`, "8:21"},
		{"pattern bad name", m("path_pattern: /a/{1id}"), `invalid variable name "1id"`, "8:21"},
		{"pattern empty name", m("path_pattern: /a/{}"), `invalid variable name ""`, "8:21"},
		{"pattern dash name", m("path_pattern: /a/{user-id}"), `invalid variable name "user-id"`, "8:21"},
		{"pattern dup name", m("path_pattern: /{id}/x/{id}"), `variable "id" is used twice`, "8:21"},
		{"pattern dollar", m("path_pattern: /a/{$}"), `invalid variable name "$"`, "8:21"},
		{"method not token", m(`methods: ["GET POST"]`), `routes[0].match.methods[0]: invalid method "GET POST"`, "8:17"},
		{"method empty", m(`methods: [""]`), `invalid method ""`, "8:17"},
		{"method duplicate", m("methods: [GET, get]"), "routes[0].match.methods[1]: method GET is listed twice (also methods[0])", "8:22"},
		{"header name missing", m("headers: [{value: x}]"), "routes[0].match.headers[0].name: required", "8:17"},
		{"header name underscore", m("headers: [{name: X_Env, value: a}]"), `routes[0].match.headers[0].name: header name "X_Env" contains "_"`, "8:24"},
		{"header name space", m(`headers: [{name: "X Env", value: a}]`), `invalid header name "X Env": use a token`, "8:24"},
		{"header name colon", m(`headers: [{name: "X-Env:", value: a}]`), `invalid header name "X-Env:"`, "8:24"},
		{"header value and present", m("headers: [{name: X-A, value: a, present: true}]"), "routes[0].match.headers[0]: give value or present: true, not both", "8:17"},
		{"header neither", m("headers: [{name: X-A}]"), "routes[0].match.headers[0]: give value (the header must equal it) or present: true", "8:17"},
		{"header present false", m("headers: [{name: X-A, present: false}]"), "routes[0].match.headers[0].present: present: false matches nothing", "8:38"},
		{"header value CR", m(`headers: [{name: X-A, value: "a\rb"}]`), `routes[0].match.headers[0].value: header value "a\rb" contains a control character`, "8:36"},
		{"header value LF", m(`headers: [{name: X-A, value: "a\nb"}]`), `header value "a\nb" contains a control character`, "8:36"},
		{"header value NUL", m(`headers: [{name: X-A, value: "a\0b"}]`), `header value "a\x00b" contains a control character`, "8:36"},
		{"header duplicate", m("headers: [{name: x-a, value: a}, {name: X-A, present: true}]"), "routes[0].match.headers[1].name: header X-A is matched twice (also headers[0])", "8:47"},
	})
}

func TestValidateHeaderOps(t *testing.T) {
	// The request_headers mapping's fields are on line 8.
	h := func(body string) string {
		return head + pool + "routes:\n  - name: r\n    pool: app\n    request_headers:\n      " + body + "\n"
	}
	runErrCases(t, []errCase{
		{"set underscore", h("set: {X_A: b}"), `routes[0].request_headers.set.X_A: header name "X_A" contains "_"`, "8:13"},
		{"set bad name", h(`set: {"X A": b}`), `routes[0].request_headers.set.X A: invalid header name "X A"`, "8:13"},
		{"set CRLF", h(`set: {X-A: "b\r\nX-Evil: 1"}`), `routes[0].request_headers.set.X-A: header value "b\r\nX-Evil: 1" contains a control character`, "8:13"},
		{"set canonical duplicate", h("set: {x-a: 1, X-A: 2}"), `routes[0].request_headers.set.X-A: header X-A is given twice (also as "x-a")`, "8:21"},
		{"set managed", h("set: {host: a}"), "routes[0].request_headers.set.host: header Host is managed by the proxy and cannot be edited", "8:13"},
		{"add managed", h("add: {Transfer-Encoding: chunked}"), "header Transfer-Encoding is managed by the proxy", "8:13"},
		{"remove managed", h("remove: [connection]"), "routes[0].request_headers.remove[0]: header Connection is managed by the proxy", "8:16"},
		{"remove underscore", h("remove: [X_A]"), `routes[0].request_headers.remove[0]: header name "X_A" contains "_"`, "8:16"},
		{"remove duplicate", h("remove: [X-A, x-a]"), "routes[0].request_headers.remove[1]: header X-A is listed twice (also remove[0])", "8:21"},
		{"response set value", head + pool + "routes:\n  - name: r\n    pool: app\n    response_headers:\n      set: {X-A: \"\\u0007\"}\n",
			`routes[0].response_headers.set.X-A: header value "\a" contains a control character`, "8:13"},
	})
}

func TestValidateRedirectMap(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := func(mapFile string) []byte {
		return []byte(head + "routes:\n  - name: r\n    redirect:\n      map_file: " + mapFile + "\n")
	}
	file := filepath.Join(dir, "c.yaml")

	t.Run("valid with CRLF and comments", func(t *testing.T) {
		write("ok.txt", "# c\r\n\r\n/a /b\r\n  /c   https://example.com/c?x=1  \r\n")
		c, err := LoadBytes(file, cfg("ok.txt"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"/a": "/b", "/c": "https://example.com/c?x=1"}
		if diff := cmp.Diff(want, c.Routes[0].Redirect.Map); diff != "" {
			t.Errorf("map (-want +got):\n%s", diff)
		}
		if got, want := c.Routes[0].Redirect.MapFile, filepath.Join(dir, "ok.txt"); got != want {
			t.Errorf("MapFile = %q, want %q", got, want)
		}
	})
	cases := []struct {
		name, body, want string
		line, col        int
	}{
		{"empty", "# nothing\n\n", "has no redirects", 6, 17},
		{"one field", "/a\n", `want "<from-path> <target>" (two fields separated by spaces), got 1 field(s)`, 1, 1},
		{"three fields", "/a /b /c\n", "got 3 field(s)", 1, 1},
		{"from relative", "\n  a /b\n", `from-path: path "a" must start with "/"`, 2, 3},
		{"from dot segment", "/a/./b /c\n", `from-path: path "/a/./b" contains a "." segment`, 1, 1},
		{"target bad", "/a   //evil\n", `target "//evil" starts with "//"`, 1, 6},
		{"target scheme", "/a javascript:alert(1)\n", `invalid target "javascript:alert(1)"`, 1, 4},
		{"duplicate", "/a /b\n/x /y\n/a /c\n", `"/a" is listed twice (first at line 1)`, 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mapPath := write(strings.ReplaceAll(tc.name, " ", "-")+".txt", tc.body)
			_, err := LoadBytes(file, cfg(filepath.Base(mapPath)))
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("err = %v, want ErrorList", err)
			}
			for _, e := range list {
				if !strings.Contains(e.Msg, tc.want) {
					continue
				}
				wantFile, wantLine, wantCol := mapPath, tc.line, tc.col
				if tc.name == "empty" { // reported at the map_file field
					wantFile = file
				}
				if e.File != wantFile || e.Line != wantLine || e.Column != wantCol || e.Path != "routes[0].redirect.map_file" {
					t.Errorf("error %q at %s:%d:%d path %q, want %s:%d:%d path routes[0].redirect.map_file",
						e.Msg, e.File, e.Line, e.Column, e.Path, wantFile, wantLine, wantCol)
				}
				return
			}
			t.Errorf("no error contains %q; got:\n%v", tc.want, err)
		})
	}
}

// TestDefaults checks every default against defaults.go on the smallest
// configuration.
func TestDefaults(t *testing.T) {
	// Every optional section is present but empty, so its defaults show.
	src := `version: 1
listeners:
  - address: ":8080"
    tls: {cert_file: certs/server.pem, key_file: certs/server-key.pem}
pools:
  - name: app
    members: ["https://127.0.0.1"]
    balance: hash
    hash: {client_ip: true}
    health_check: {path: /h}
    tls: {}
routes:
  - {name: r, pool: app, redirect: {map_file: valid/redirects.txt}}
  - {name: r2, pool: app, rewrite: {strip_prefix: /a}}
`
	c, err := LoadBytes(testFile, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	p := c.Pools[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listener name", l.Name, "listener-0"},
		{"http2", l.HTTP2, DefaultListenerHTTP2},
		{"h2c", l.H2C, DefaultListenerH2C},
		{"tls min version", l.TLS.MinVersion, uint16(0x0303)},
		{"tls cert path", l.TLS.CertFile, filepath.Join("testdata", "certs", "server.pem")},
		{"admin", c.Admin.Address, DefaultAdminAddress},
		{"trusted proxies", len(c.TrustedProxies), 0},
		{"limits", c.Limits, Limits{MaxHeaderBytes: 64 << 10, MaxBodyBytes: 10 << 20, MaxURIBytes: 8 << 10}},
		{"timeouts", c.Timeouts, Timeouts{ReadHeader: 10 * time.Second, Read: 60 * time.Second, Write: 0, Idle: 120 * time.Second,
			OriginConnect: 5 * time.Second, OriginResponse: 30 * time.Second, Shutdown: 30 * time.Second}},
		{"log", c.Log, Log{Level: "info", Access: true, AccessFile: "-", AccessSample: 1}},
		{"member", p.Members[0].Weight, 1},
		{"member url port", p.Members[0].URL.String(), "https://127.0.0.1:443"},
		{"protocol", p.Protocol, ProtocolHTTP1},
		{"health", *p.HealthCheck, HealthCheck{Path: "/h", Interval: 5 * time.Second, Timeout: 2 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3}},
		{"passive", p.Passive, PassiveHealth{MaxFailures: 5, Window: 10 * time.Second, EjectFor: 30 * time.Second}},
		{"retries", p.Retries, 1},
		{"failover", p.Failover, ""},
		{"origin tls", *p.TLS, OriginTLS{}},
		{"max idle", p.MaxIdleConnsPerHost, 256},
		{"pool timeouts", [2]time.Duration{p.ConnectTimeout, p.ResponseTimeout}, [2]time.Duration{}},
		{"redirect status", c.Routes[0].Redirect.Status, 302},
		{"redirect keep query", c.Routes[0].Redirect.KeepQuery, false},
		{"rewrite replace", c.Routes[1].Rewrite.ReplacePrefix, ""},
		{"route index", [2]int{c.Routes[0].Index, c.Routes[1].Index}, [2]int{0, 1}},
		{"route field path", c.Routes[1].FieldPath, "routes[1]"},
		{"match any path", c.Routes[0].Match.PathKind, PathAny},
		{"version", c.Version, 1},
		{"file", c.File, testFile},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ch.name, diff)
		}
	}
	// The default balance is round robin; hash was needed above only to
	// test hash.client_ip, so check it on the base config.
	b, err := LoadBytes(testFile, []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if b.Pools[0].Balance != DefaultBalance || b.Pools[0].HealthCheck != nil || b.Pools[0].TLS != nil || b.Listeners[0].TLS != nil {
		t.Errorf("base pool = %+v, listener = %+v; want round_robin, no health check, no TLS", b.Pools[0], b.Listeners[0])
	}
}

func TestNormalization(t *testing.T) {
	src := head + pool + `routes:
  - name: r
    pool: app
    match:
      hosts: [WWW.Example.COM, "*.Example.com"]
      methods: [get, Purge]
      headers: [{name: x-env, value: Prod}]
    request_headers:
      set: {x-b: "2", x-a: "1", content-type: text/plain}
      add: {x-c: "3"}
      remove: [x-internal]
`
	c, err := LoadBytes(testFile, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Routes[0].Match
	if diff := cmp.Diff([]string{"www.example.com", "*.example.com"}, m.Hosts); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"GET", "PURGE"}, m.Methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]HeaderMatch{{Name: "X-Env", Value: "Prod"}}, m.Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	want := HeaderOps{
		Set:    []Header{{"X-B", "2"}, {"X-A", "1"}, {"Content-Type", "text/plain"}}, // file order, canonical names
		Add:    []Header{{"X-C", "3"}},
		Remove: []string{"X-Internal"},
	}
	if diff := cmp.Diff(want, c.Routes[0].RequestHeaders); diff != "" {
		t.Errorf("request headers (-want +got):\n%s", diff)
	}
	if c.Hash == "" || len(c.Hash) != 64 {
		t.Errorf("Hash = %q, want 64 hex digits", c.Hash)
	}
	c2, _ := LoadBytes(testFile, []byte(src+"\n"))
	if c2.Hash == c.Hash {
		t.Error("Hash did not change when the source did")
	}
}

func TestErrorsIsAs(t *testing.T) {
	_, err := LoadBytes(testFile, []byte("version: 3\nlisteners: []\nroutes: []\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("errors.Is(err, ErrInvalid) = false for %v", err)
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 3 {
		t.Fatalf("errors.As ErrorList: %v (len %d), want 3 errors", err, len(list))
	}
	var one *Error
	if !errors.As(err, &one) {
		t.Fatal("errors.As(*Error) = false")
	}
	if one.File != testFile || one.Path != "version" || one.Line != 1 || one.Column != 10 {
		t.Errorf("first *Error = %+v, want version at %s:1:10", one, testFile)
	}
	// Errors come in file order.
	for i := 1; i < len(list); i++ {
		if list[i].Line < list[i-1].Line {
			t.Errorf("errors out of order: %v", err)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("Load(missing) = %v; want a read error that is not ErrInvalid", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v; want it to wrap fs.ErrNotExist", err)
	}
	cfg, err := Load("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "testdata/valid/minimal.yaml" || cfg.Positions == nil || cfg.Positions.File != cfg.File {
		t.Errorf("File = %q, Positions = %+v", cfg.File, cfg.Positions)
	}
}

func TestValidateNil(t *testing.T) {
	_, err := Validate(nil, nil)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate(nil, nil) = %v, want ErrInvalid", err)
	}
	// A hand-built RawConfig validates without positions.
	one := 1
	addr, name, u, pn := ":1", "r", "http://h", "p"
	raw := &RawConfig{
		Version:   &one,
		Listeners: []RawListener{{Address: &addr}},
		Pools:     []RawPool{{Name: &pn, Members: []RawMember{{URL: &u}}}},
		Routes:    []RawRoute{{Name: &name, Pool: &pn}},
	}
	c, err := Validate(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pools[0].Members[0].URL.Host != "h:80" || c.Positions == nil {
		t.Errorf("member host %q, positions %v", c.Pools[0].Members[0].URL.Host, c.Positions)
	}
	raw.Routes[0].Pool = &name
	_, err = Validate(raw, nil)
	if err == nil || err.Error() != `<config>: routes[0].pool: unknown pool "r"; defined pools: p` {
		t.Errorf("err = %v", err)
	}
}
