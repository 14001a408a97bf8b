package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want, at string
	}{
		{"empty", "", "the file is empty", "0:0"},
		{"only comments", "# nothing\n", "the file is empty", "0:0"},
		{"null document", "~\n", "the file is empty", "0:0"},
		{"explicit empty document", "---\n", "the file is empty", "0:0"},
		{"two documents", "version: 1\n---\nversion: 1\n", "more than one YAML document", "3:1"},
		{"top level list", "- a\n", "the top level must be a mapping of fields (version, listeners, ...), not a list", "1:1"},
		{"top level scalar", "hello\n", `not the string "hello"`, "1:1"},
		{"syntax", "version: 1\n  listeners: x\n", "invalid YAML: mapping values are not allowed in this context", "2:0"},
		{"tab indentation", "version: 1\nlisteners:\n\t- a\n", "invalid YAML: found character that cannot start any token", "3:0"},
		{"unknown top", "version: 1\nlistener: []\n", `listener: unknown field "listener" (did you mean "listeners"?)`, "2:1"},
		{"unknown nested", "routes:\n  - match:\n      pathprefix: /x\n", `routes[0].match.pathprefix: unknown field "pathprefix" (did you mean "path_prefix"?)`, "3:7"},
		{"unknown camel case", "routes:\n  - match: {pathPrefix: /x}\n", `unknown field "pathPrefix" (did you mean "path_prefix"?)`, "2:13"},
		{"unknown far", "routes:\n  - zzz: 1\n", `routes[0].zzz: unknown field "zzz" (allowed: allow, assertion, auth, cache, deny, match, max_body_bytes, name, pool, redirect, request_headers, response_headers, response_timeout, rewrite, script)`, "2:5"},
		{"duplicate key", "version: 1\nversion: 1\n", `version: duplicate key "version" (first given at line 1)`, "2:1"},
		{"duplicate nested key", "admin:\n  address: a\n  address: b\n", `admin.address: duplicate key "address" (first given at line 2)`, "3:3"},
		{"duplicate header key", "routes:\n  - request_headers:\n      set: {X-A: 1, X-A: 2}\n", `routes[0].request_headers.set.X-A: duplicate key "X-A"`, "3:21"},
		{"list for mapping", "admin: [a]\n", "admin: expected a mapping, got a list", "1:8"},
		{"scalar for mapping", "limits: 5\n", "limits: expected a mapping, got the number 5", "1:9"},
		{"mapping for list", "listeners: {address: x}\n", "listeners: expected a list, got a mapping", "1:12"},
		{"scalar for list", "trusted_proxies: 10.0.0.0/8\n", `trusted_proxies: expected a list, got the string "10.0.0.0/8" (write [10.0.0.0/8] for a list of one)`, "1:18"},
		{"scalar for list of mappings", "routes: r\n", `routes: expected a list, got the string "r"`, "1:9"},
		{"mapping for string", "admin: {address: {a: b}}\n", "admin.address: expected a string, got a mapping", "1:18"},
		{"null string", "admin: {address: }\n", `admin.address: missing value: expected a string (write "" for an empty string)`, "1:18"},
		{"null int", "version:\n", "version: missing value: expected an integer", "1:9"},
		{"string for int", "version: \"1\"\n", `version: expected an integer, got the string "1"`, "1:10"},
		{"float for int", "version: 1.0\n", "version: expected an integer, got the number 1.0", "1:10"},
		{"huge int", "version: 99999999999999999999999\n", "version: expected an integer, got the number 99999999999999999999999", "1:10"},
		{"yes for bool", "log: {access: yes}\n", `log.access: expected true or false, got the string "yes"`, "1:15"},
		{"number for bool", "log: {access: 1}\n", "log.access: expected true or false, got the number 1", "1:15"},
		{"list for duration", "timeouts: {read: [1]}\n", `timeouts.read: expected a duration such as "10s", got a list`, "1:18"},
		{"list for size", "limits: {max_body_bytes: [1]}\n", `limits.max_body_bytes: expected a size such as 1048576 or "64KiB", got a list`, "1:26"},
		{"header map as list", "routes:\n  - request_headers: {set: [a]}\n", "routes[0].request_headers.set: expected a mapping of header names to values, got a list", "2:28"},
		{"header value list", "routes:\n  - request_headers: {add: {X-A: [a]}}\n", "routes[0].request_headers.add.X-A: expected a string, got a list", "2:34"},
		{"member list", "pools:\n  - members: [[a]]\n", "pools[0].members[0]: expected a mapping, got a list", "2:15"},
		{"member null", "pools:\n  - members: [~]\n", "", ""}, // null member: an empty mapping; Validate asks for url
		{"merge key", "base: &b {a: 1}\nadmin:\n  <<: *b\n", `admin: merge keys (<<) are not supported`, "3:3"},
		{"complex key", "? [a]\n: 1\n", "mapping keys must be plain strings, got a list", "1:3"},
		{"custom tag", "admin: {address: !env ADDR}\n", "admin.address: expected a string, got a value with unsupported YAML tag !env", "1:18"},
		{"binary tag", "admin: {address: !!binary aGk=}\n", "unsupported YAML tag !!binary", "1:18"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, pos, err := Parse("p.yaml", []byte(tc.yaml))
			if pos == nil || pos.File != "p.yaml" {
				t.Errorf("positions = %+v, want a *Positions for p.yaml", pos)
			}
			if tc.want == "" {
				if err != nil || raw == nil {
					t.Fatalf("Parse = %v, %v; want success", raw, err)
				}
				return
			}
			if err == nil || raw != nil {
				t.Fatalf("Parse = %v, %v; want an error containing %q", raw, err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var list ErrorList
			errors.As(err, &list)
			for _, e := range list {
				if strings.Contains(e.Error(), tc.want) {
					if got := fmt.Sprintf("%d:%d", e.Line, e.Column); got != tc.at {
						t.Errorf("error %q at %s, want %s", e.Error(), got, tc.at)
					}
					if e.File != "p.yaml" {
						t.Errorf("error file %q, want p.yaml", e.File)
					}
					return
				}
			}
			t.Errorf("no error contains %q; got:\n%v", tc.want, err)
		})
	}
}

// TestParseCollectsAll checks that Parse does not stop at the first problem.
func TestParseCollectsAll(t *testing.T) {
	src := "versio: 1\nadmin: [x]\nroutes:\n  - nmae: a\n  - pool: [b]\n"
	_, _, err := Parse("p.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, fmt.Sprintf("%d:%d %s", e.Line, e.Column, e.Path))
	}
	want := []string{"1:1 versio", "2:8 admin", "4:5 routes[0].nmae", "5:11 routes[1].pool"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s\nfull text:\n%v", diff, err)
	}
}

func TestParseValues(t *testing.T) {
	src := `version: 1
listeners:
  - {address: ":1", http2: false}
limits: {max_body_bytes: 1048576, max_uri_bytes: 8KiB}
timeouts: {read: 1m30s}
pools:
  - name: p
    members:
      - http://a:1
      - {url: "http://b:1", weight: 0x10}
routes:
  - name: r
    pool: p
    request_headers:
      set: {Z: 1, A: true, M: "", K: 1.50}
      add: {X-Q: null-ish}
`
	raw, _, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if *raw.Version != 1 || *raw.Listeners[0].HTTP2 != false || *raw.Listeners[0].Address != ":1" {
		t.Errorf("listener = %+v", raw.Listeners[0])
	}
	if *raw.Limits.MaxBodyBytes != "1048576" || *raw.Limits.MaxURIBytes != "8KiB" || *raw.Timeouts.Read != "1m30s" {
		t.Errorf("limits %+v timeouts %+v: want scalars as written", raw.Limits, raw.Timeouts)
	}
	if *raw.Pools[0].Members[0].URL != "http://a:1" || raw.Pools[0].Members[0].Weight != nil {
		t.Errorf("shorthand member = %+v", raw.Pools[0].Members[0])
	}
	if *raw.Pools[0].Members[1].Weight != 16 {
		t.Errorf("weight = %d, want 16 (YAML hex)", *raw.Pools[0].Members[1].Weight)
	}
	// Header maps keep file order and the values' text as written.
	want := RawHeaderMap{{"Z", "1"}, {"A", "true"}, {"M", ""}, {"K", "1.50"}}
	if diff := cmp.Diff(want, raw.Routes[0].RequestHeaders.Set); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	if raw.Admin.Address != nil || raw.Routes[0].Redirect != nil {
		t.Error("absent fields must stay nil")
	}
}

func TestParsePositions(t *testing.T) {
	src := `version: 1
routes:
  - name: api
    match:
      path_prefix: /api
    request_headers:
      set:
        X-Env: prod
pools:
  - members:
      - http://a:1
      - url: http://b:1
`
	_, pos, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]Position{
		"version":                             {1, 10},
		"routes":                              {2, 1},
		"routes[0]":                           {3, 5},
		"routes[0].name":                      {3, 11},
		"routes[0].match":                     {4, 5},
		"routes[0].match.path_prefix":         {5, 20},
		"routes[0].request_headers.set":       {7, 7},
		"routes[0].request_headers.set.X-Env": {8, 9},
		"pools[0].members[0]":                 {11, 9},
		"pools[0].members[0].url":             {11, 9},
		"pools[0].members[1].url":             {12, 14},
		// Lookup falls back to the nearest recorded parent.
		"routes[0].match.methods":    {4, 5},
		"routes[0].redirect.to":      {3, 5},
		"pools[0].members[1].weight": {12, 9},
	} {
		if got := pos.Lookup(path); got != want {
			t.Errorf("Lookup(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestParseAliases(t *testing.T) {
	src := `version: 1
x-common: &hdrs
  set: {X-Env: prod}
routes:
  - name: a
    request_headers: *hdrs
  - name: b
    request_headers: *hdrs
`
	// x-common is not a field, so this is an error; aliases themselves work.
	_, _, err := Parse("p.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `unknown field "x-common"`) {
		t.Fatalf("err = %v", err)
	}
	src = `version: 1
routes:
  - name: a
    request_headers: &hdrs
      set: {X-Env: prod}
  - name: b
    request_headers: *hdrs
`
	raw, _, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(raw.Routes[0].RequestHeaders, raw.Routes[1].RequestHeaders); diff != "" {
		t.Errorf("alias not expanded (-a +b):\n%s", diff)
	}
}

// TestParseAliasBomb checks that a file expanding aliases exponentially is
// refused quickly instead of exhausting memory.
func TestParseAliasBomb(t *testing.T) {
	// 5000 routes, each an alias of one route with 5000 header matchers:
	// about 10^8 nodes once expanded, from a file of about 50 KB. A small
	// budget keeps the test fast; the default is tested the same way.
	var b strings.Builder
	b.WriteString("version: 1\nroutes:\n  - &r {name: a, match: {headers: [&h {name: X-A, value: b}")
	b.WriteString(strings.Repeat(", *h", 5000))
	b.WriteString("]}}\n")
	b.WriteString(strings.Repeat("  - *r\n", 5000))
	_, _, err, _ := parse("bomb.yaml", []byte(b.String()), 10_000)
	if err == nil || !strings.Contains(err.Error(), "expands too many aliases") {
		t.Fatalf("err = %v, want the node budget error", err)
	}
	var list ErrorList
	errors.As(err, &list)
	if len(list) != 1 {
		t.Errorf("%d errors, want 1: the walk stops at the node budget", len(list))
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"path_prefix", "path_exact", "path_pattern", "hosts", "methods", "headers"}
	for key, want := range map[string]string{
		"pathprefix":           ` (did you mean "path_prefix"?)`,
		"PathExact":            ` (did you mean "path_exact"?)`,
		"path-pattern":         ` (did you mean "path_pattern"?)`,
		"host":                 ` (did you mean "hosts"?)`,
		"method":               ` (did you mean "methods"?)`,
		"heders":               ` (did you mean "headers"?)`,
		"x":                    " (allowed: headers, hosts, methods, path_exact, path_pattern, path_prefix)",
		"completely_different": " (allowed: headers, hosts, methods, path_exact, path_pattern, path_prefix)",
	} {
		if got := suggest(key, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

// FuzzParse feeds arbitrary bytes through Parse and Validate: they must not
// panic, and every failure must be a configuration error (ErrInvalid).
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/valid/full.yaml", "testdata/valid/minimal.yaml", "testdata/invalid/many.yaml", "testdata/invalid/shape.yaml"} {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(base))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("routes: [{match: {path_pattern: \"/{a}/{b...}\"}}]"))
	f.Add([]byte("\x00\xff"))
	// Relative file paths in fuzz input resolve in an empty directory.
	file := f.TempDir() + "/f.yaml"
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := LoadBytes(file, src)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			return
		}
		if cfg == nil || len(cfg.Listeners) == 0 || len(cfg.Routes) == 0 || cfg.Version != 1 {
			t.Fatalf("accepted config lacks required parts: %+v", cfg)
		}
	})
}
