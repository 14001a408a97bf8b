package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolQueue: with max_conns_per_member 1 and a slow origin, concurrent
// requests queue for the member's one connection instead of piling onto
// it; none is lost, and the queue time shows in the pool's metrics.
func TestPoolQueue(t *testing.T) {
	var cur, peak atomic.Int32
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(30 * time.Millisecond) // slow enough that the others queue
		_, _ = io.WriteString(w, "done "+r.URL.Path)
	}))
	t.Cleanup(o.Close)
	// The basic gateway, its pool limited to one connection per member.
	tg := startGateway(t, strings.Replace(basicConfig(o.URL, "log: {access: false}\n"),
		"  - name: app\n", "  - name: app\n    max_conns_per_member: 1\n", 1))

	const n = 6
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			path := "/r" + strconv.Itoa(i)
			resp, err := client.Get(tg.url(path))
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "done "+path {
				t.Errorf("%s: %d %q", path, resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p != 1 {
		t.Errorf("origin saw %d requests at once, want 1", p)
	}

	resp, err := http.Get("http://" + tg.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric := func(re string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics lacks %s", re)
		}
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if c := metric(`edgegate_pool_queue_seconds_count\{pool="app"\}`); c != n {
		t.Errorf("queue time observed for %v attempts, want %d", c, n)
	}
	// Five requests waited behind a 30 ms exchange each, at least.
	if s := metric(`edgegate_pool_queue_seconds_sum\{pool="app"\}`); s <= 0 {
		t.Errorf("queue time sum %v, want > 0", s)
	}
	if q := metric(`edgegate_pool_queued\{pool="app"\}`); q != 0 {
		t.Errorf("edgegate_pool_queued = %v after every request finished", q)
	}
}
