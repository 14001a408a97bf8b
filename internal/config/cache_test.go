package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateCache(t *testing.T) {
	c := func(body string) string { return base + "cache:\n" + body } // cache body from line 6
	rc := func(body string) string {                                  // a route's cache mapping on line 7
		return head + pool + "routes:\n  - name: r\n    pool: app\n    cache: " + body + "\n"
	}
	runErrCases(t, []errCase{
		{"memory zero", c("  memory: {max_bytes: 0}\n"), "cache.memory.max_bytes: must be greater than 0", "6:23"},
		{"object over memory", c("  memory: {max_bytes: 1MiB, max_object_bytes: 2MiB}\n"), "cache.memory.max_object_bytes: must not be larger than cache.memory.max_bytes (1MiB)", "6:47"},
		{"disk without path", c("  disk: {max_bytes: 1GiB}\n"), "cache.disk: path is required", "6:3"},
		{"disk empty path", c("  disk: {path: \"\"}\n"), "cache.disk.path: must not be empty", "6:16"},
		{"disk parent missing", c("  disk: {path: nope/cache}\n"), `cache.disk.path: the directory "testdata/nope" does not exist`, "6:16"},
		{"collapse zero", c("  collapse_timeout: 0s\n"), "cache.collapse_timeout: must be greater than 0", "6:21"},
		{"purge both", c("  purge: {token_env: A, token_file: b}\n"), "cache.purge.token_env: give token_env or token_file, not both", "6:22"},
		{"purge neither", c("  purge: {}\n"), "cache.purge: give token_env or token_file", "6:3"},
		{"purge env name", c("  purge: {token_env: \"1A\"}\n"), `cache.purge.token_env: "1A" is not an environment variable name`, "6:22"},
		{"purge file missing", c("  purge: {token_file: nope.txt}\n"), "cache.purge.token_file: cannot read", "6:23"},
		{"heuristic type", c("  heuristic: maybe\n"), "cache.heuristic", "6:14"},
		{"route ttl", rc("{ttl_override: 0s}"), "routes[0].cache.ttl_override: must be greater than 0", "7:27"},
		{"route honor", rc("{honor: [esi]}"), `routes[0].cache.honor[0]: unknown field "esi"`, "7:21"},
		{"route query", rc("{key: {query: some}}"), `routes[0].cache.key.query: unknown value "some"; allowed: all, none`, "7:26"},
		{"route query args with none", rc("{key: {query: none, query_args: [a]}}"), "routes[0].cache.key.query_args: not together with query: none", "7:32"},
		{"route empty query arg", rc("{key: {query_args: [\"\"]}}"), "routes[0].cache.key.query_args[0]: must not be empty", "7:32"},
		{"route authorization header", rc("{key: {headers: [authorization]}}"), "routes[0].cache.key.headers[0]: Authorization would put credentials into cache keys", "7:29"},
		{"route cookie header", rc("{key: {headers: [Cookie]}}"), "routes[0].cache.key.headers[0]: Cookie would put credentials", "7:29"},
		{"route bad header", rc("{key: {headers: [\"a b\"]}}"), `routes[0].cache.key.headers[0]: "a b" is not a header name`, "7:29"},
		{"route session cookie", rc("{key: {cookies: [__Host-edgegate]}}"), `routes[0].cache.key.cookies[0]: "__Host-edgegate" is the login session cookie`, "7:29"},
		{"route bad cookie", rc("{key: {cookies: [\"a=b\"]}}"), `routes[0].cache.key.cookies[0]: "a=b" is not a cookie name`, "7:29"},
		{"route variable", rc("{key: {variables: [COUNTRY]}}"), `routes[0].cache.key.variables[0]: "COUNTRY" must be a PMUSER_ variable name`, "7:31"},
		{"redirect route", head + "routes:\n  - name: r\n    redirect: {to: /x}\n    cache: {}\n", "routes[0].cache: caching needs a pool", "6:5"},
	})
}

func TestCacheDefaults(t *testing.T) {
	cfg, err := LoadBytes(testFile, []byte(head+pool+"routes: [{name: r, pool: app, cache: {}}, {name: s, pool: app, match: {path_prefix: /s}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Cache{
		MemoryMaxBytes:  256 << 20,
		MaxObjectBytes:  8 << 20,
		CollapseTimeout: 5 * time.Second,
		Heuristic:       true,
	}
	if diff := cmp.Diff(want, cfg.Cache); diff != "" {
		t.Errorf("cache defaults (-want +got):\n%s", diff)
	}
	wantRoute := RouteCache{Enabled: true, HonorCDNCacheControl: true, HonorSurrogateControl: true}
	if diff := cmp.Diff(wantRoute, cfg.Routes[0].Cache); diff != "" {
		t.Errorf("route cache defaults (-want +got):\n%s", diff)
	}
	if cfg.Routes[1].Cache.Enabled {
		t.Error("a route without a cache section caches")
	}
	small, err := LoadBytes(testFile, []byte(base+"cache: {memory: {max_bytes: 1MiB}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if small.Cache.MaxObjectBytes != 1<<20 {
		t.Errorf("max_object_bytes follows a smaller max_bytes: got %d", small.Cache.MaxObjectBytes)
	}
	none, err := LoadBytes(testFile, []byte(head+pool+"routes: [{name: r, pool: app, cache: {honor: [], enabled: false}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := none.Routes[0].Cache; got.Enabled || got.HonorCDNCacheControl || got.HonorSurrogateControl {
		t.Errorf("honor: [] and enabled: false not applied: %+v", got)
	}
}
