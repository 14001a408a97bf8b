package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestScriptCacheKey: request.cacheKey.includeVariable in onClientRequest
// splits the cache by the script's PMUSER variable, as on Akamai — mobile
// and desktop get their own stored copy, and each is then a hit.
func TestScriptCacheKey(t *testing.T) {
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "device=%s origin-hit=%d", r.Header.Get("X-Device-Type"), n)
	}))
	defer origin.Close()
	src := fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "off"}
cache: {}
scripts:
  bundles:
    # enterprise: the handler's CPU limit is a time limit, and under -race
    # on a loaded machine dynamic's 20 ms was sometimes not enough.
    - {name: device, path: %q, tier: enterprise}
pools: [{name: app, members: [%s]}]
routes:
  - name: device
    pool: app
    script: {bundle: device}
    cache: {enabled: true}
`, bundlePath(t, "device-key"), origin.URL)
	tg := startGateway(t, src)
	get := func(ua string) (string, string) {
		_, body := scriptGet(t, tg.url("/page"), map[string]string{"User-Agent": ua})
		resp, _ := scriptGet(t, tg.url("/page"), map[string]string{"User-Agent": ua})
		return body, resp.Header.Get("Cache-Status")
	}
	mobile, mobileStatus := get("Mozilla/5.0 (iPhone) Mobile")
	desktop, desktopStatus := get("Mozilla/5.0 (X11; Linux)")
	if !strings.Contains(mobile, "device=mobile") || !strings.Contains(desktop, "device=desktop") {
		t.Fatalf("mobile %q, desktop %q: one device got the other's copy", mobile, desktop)
	}
	if !strings.Contains(mobileStatus, "hit") || !strings.Contains(desktopStatus, "hit") {
		t.Errorf("second requests were not hits: %q, %q", mobileStatus, desktopStatus)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("origin saw %d requests, want 2 (one per device type)", n)
	}
}

// cacheScript is a bundle whose handlers mark what they did: the origin
// side edits what is stored, the client side what each client gets.
const cacheScript = `
export function onOriginRequest(request) {}
export function onOriginResponse(request, response) {
  response.setHeader('X-OR', 'yes');
  if (request.getHeader('X-OBoom')) throw new Error('origin boom');
}
export function onClientResponse(request, response) {
  response.setHeader('X-CR', 'yes');
  const tag = request.getHeader('X-Tag');
  if (tag) response.setHeader('X-CR-' + tag[0], 'yes');
  if (request.getHeader('X-Boom')) throw new Error('boom');
  if (request.getHeader('X-Deny')) request.respondWith(403, {'X-Denied': ['1']}, 'denied by script');
  if (request.getHeader('X-Status')) response.status = 299;
}`

// TestScriptHandlersOnCachedRoute: on a cached route onClientResponse
// runs on hits and misses and can fail or replace the response for that
// client only; what onOriginResponse produced is what is stored, and
// onOriginRequest runs only when the origin is asked. The same requests on
// an uncached route give the same answers.
func TestScriptHandlersOnCachedRoute(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bundle.json"), []byte(`{"edgeworker-version": "1.0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.js"), []byte(cacheScript), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			o := newCacheOrigin(t, fixed("Cache-Control", "public, max-age=60"))
			routeCache := ""
			if cached {
				routeCache = ", cache: {}"
			}
			tg := startGateway(t, fmt.Sprintf(`version: 1
listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
scripts:
  bundles: [{name: b, path: %q, tier: enterprise}]
pools: [{name: app, members: [%s], retries: 0}]
routes:
  - {name: r, pool: app, script: {bundle: b}%s}
`, dir, o.URL, routeCache))
			hitOr := func(want string) string {
				if cached {
					return "hit"
				}
				return want
			}
			for i, tc := range []struct {
				path   string
				hdr    map[string]string
				status int
				body   string // prefix
				cs     string // Cache-Status substring (cached route)
				want   []string
				absent []string
			}{
				{"/a", map[string]string{"X-Tag": "A"}, 200, "n=1 ", "stored", []string{"X-Or", "X-Cr", "X-Cr-A"}, nil},
				// X-Or comes from the stored copy on a hit; X-Cr-A was
				// for the first client only.
				{"/a", map[string]string{"X-Tag": "B"}, 200, hitOr("n=2 "), "hit", []string{"X-Or", "X-Cr", "X-Cr-B"}, []string{"X-Cr-A"}},
				{"/a", map[string]string{"X-Boom": "1"}, 500, "edge script failed", "hit", nil, nil},
				{"/a", map[string]string{"X-Deny": "1"}, 403, "denied by script", "hit", []string{"X-Denied"}, nil},
				{"/a", map[string]string{"X-Status": "1"}, 299, hitOr("n=5 "), "hit", []string{"X-Cr"}, nil},
				// The same on misses: the client gets the failure or the
				// replacement, the cache keeps the origin's answer.
				{"/m1", map[string]string{"X-Boom": "1"}, 500, "edge script failed", "stored", nil, nil},
				{"/m1", nil, 200, hitOr("n=2 "), "hit", []string{"X-Or"}, nil},
				{"/m2", map[string]string{"X-Deny": "1"}, 403, "denied by script", "stored", nil, nil},
				{"/m2", nil, 200, hitOr("n=2 "), "hit", []string{"X-Or"}, nil},
				// A failed onOriginResponse is a 500 for that client and
				// is not stored.
				{"/ob", map[string]string{"X-OBoom": "1"}, 500, "edge script failed", "", nil, nil},
				{"/ob", nil, 200, "n=2 ", "stored", []string{"X-Or"}, nil},
			} {
				resp, body := scriptGet(t, tg.url(tc.path), tc.hdr)
				cs := resp.Header.Get("Cache-Status")
				if resp.StatusCode != tc.status || !strings.HasPrefix(body, strings.TrimPrefix(tc.body, "hit")) {
					t.Errorf("%d %s %v: %d %q (%s), want %d %q", i, tc.path, tc.hdr, resp.StatusCode, body, cs, tc.status, tc.body)
				}
				if cached && tc.body == "hit" && !strings.HasPrefix(body, "n=1 ") {
					t.Errorf("%d %s: body %q, want the stored n=1", i, tc.path, body)
				}
				if cached && !strings.Contains(cs, tc.cs) {
					t.Errorf("%d %s %v: Cache-Status %q, want %q", i, tc.path, tc.hdr, cs, tc.cs)
				}
				for _, h := range tc.want {
					if resp.Header.Get(h) == "" {
						t.Errorf("%d %s %v: no %s", i, tc.path, tc.hdr, h)
					}
				}
				for _, h := range tc.absent {
					if resp.Header.Get(h) != "" {
						t.Errorf("%d %s %v: %s was stored with the response", i, tc.path, tc.hdr, h)
					}
				}
			}
			fetches := o.hits("/a") + o.hits("/m1") + o.hits("/m2") + o.hits("/ob")
			if cached && fetches != 5 {
				t.Errorf("origin saw %d requests, want 5 (one per path, two for /ob)", fetches)
			}
			runs := scrape(t, tg, `edgegate_script_runs_total{bundle="b",handler="onOriginRequest",status="success"}`)
			if int(runs) != fetches {
				t.Errorf("onOriginRequest ran %v times for %d origin requests (it must not run on hits)", runs, fetches)
			}
		})
	}
}
