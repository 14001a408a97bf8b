package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/google/go-cmp/cmp"
)

// fakeMembers are addresses nothing listens on: Pick never connects, so
// balancing tests need no origins.
func fakeMembers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("http://127.0.0.1:%d", 10001+i)
	}
	return out
}

func withWeights(pc config.Pool, ws ...int) config.Pool {
	for i, w := range ws {
		pc.Members[i].Weight = w
	}
	return pc
}

func pickN(t *testing.T, p *Pool, n int, key HashInput) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		m, err := p.Pick(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		got[m.URL().Host]++
	}
	return got
}

func TestRoundRobinWeighted(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []string // one full cycle, by member index letter
	}{
		{"equal", []int{1, 1, 1}, strings.Split("abc", "")},
		{"5-1-1 smooth", []int{5, 1, 1}, strings.Split("aabacaa", "")},
		{"2-1", []int{2, 1}, strings.Split("aba", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := withWeights(poolCfg(t, "p", fakeMembers(len(tt.weights))...), tt.weights...)
			p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
			letter := map[*Member]string{}
			for i, m := range p.Members() {
				letter[m] = string(rune('a' + i))
			}
			// Several cycles: the sequence must repeat exactly.
			for cycle := range 3 {
				var got []string
				for range tt.want {
					m, err := p.Pick(HashInput{}, nil)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, letter[m])
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("cycle %d (-want +got):\n%s", cycle, diff)
				}
			}
		})
	}
}

func TestRoundRobinDistribution(t *testing.T) {
	pc := withWeights(poolCfg(t, "p", fakeMembers(3)...), 3, 2, 5)
	p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
	got := pickN(t, p, 1000, HashInput{})
	want := map[string]int{"127.0.0.1:10001": 300, "127.0.0.1:10002": 200, "127.0.0.1:10003": 500}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("distribution (-want +got):\n%s", diff)
	}
}

func TestPickSkipsTried(t *testing.T) {
	for _, bal := range []config.Balance{config.BalanceRoundRobin, config.BalanceLeastRequests, config.BalanceHash} {
		t.Run(string(bal), func(t *testing.T) {
			pc := poolCfg(t, "p", fakeMembers(3)...)
			pc.Balance = bal
			if bal == config.BalanceHash {
				pc.Hash = config.HashKey{Kind: config.HashHeader, Name: "x-user"}
			}
			p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
			key := HashInput{Header: http.Header{"X-User": {"alice"}}}
			var tried []*Member
			for range 3 {
				m, err := p.Pick(key, tried)
				if err != nil {
					t.Fatalf("after %v: %v", names(tried), err)
				}
				for _, x := range tried {
					if x == m {
						t.Fatalf("picked %s again after %v", m.URL().Host, names(tried))
					}
				}
				tried = append(tried, m)
			}
			_, err := p.Pick(key, tried)
			if !errors.Is(err, ErrNoMember) {
				t.Fatalf("all tried: err = %v, want ErrNoMember", err)
			}
		})
	}
}

func TestLeastRequestsPrefersIdle(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	busy := origin(t, func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
	})
	idle := origin(t, func(w http.ResponseWriter, r *http.Request) {})
	pc := poolCfg(t, "p", busy.URL, idle.URL)
	pc.Balance = config.BalanceLeastRequests
	p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
	busyM, idleM := p.Members()[0], p.Members()[1]

	// Hold three real requests open on the busy member.
	const held = 3
	arrived.Add(held)
	var wg sync.WaitGroup
	for range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, busy.URL, nil)
			done := busyM.Begin()
			resp, err := busyM.Transport().RoundTrip(req)
			if err != nil {
				done(OutcomeConnectError)
				return
			}
			resp.Body.Close()
			done(OutcomeOK)
		}()
	}
	arrived.Wait()
	if got := p.InFlight(); got != held {
		t.Fatalf("pool in flight = %d, want %d", got, held)
	}

	// The idle member wins until it carries as much as the busy one.
	var ends []func(Outcome)
	for i := range held {
		m, err := p.Pick(HashInput{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m != idleM {
			t.Fatalf("pick %d went to %s with %d in flight, want the idle member", i, m.URL().Host, m.InFlight())
		}
		ends = append(ends, m.Begin())
	}
	for _, end := range ends {
		end(OutcomeOK)
	}
	close(release)
	wg.Wait()
	if p.InFlight() != 0 || busyM.InFlight() != 0 || idleM.InFlight() != 0 {
		t.Errorf("in flight after all ended: pool %d busy %d idle %d", p.InFlight(), busyM.InFlight(), idleM.InFlight())
	}
}

func TestLeastRequestsWeightedAndTies(t *testing.T) {
	pc := withWeights(poolCfg(t, "p", fakeMembers(2)...), 1, 3)
	pc.Balance = config.BalanceLeastRequests
	p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
	a, b := p.Members()[0], p.Members()[1]

	// Idle pool: ties alternate instead of piling onto the first member.
	got := pickN(t, p, 10, HashInput{})
	if got[a.URL().Host] != 5 || got[b.URL().Host] != 5 {
		t.Errorf("idle picks = %v, want 5 each", got)
	}

	// With 1 on a (weight 1) and 2 on b (weight 3), b is less loaded per weight.
	ea := a.Begin()
	eb1, eb2 := b.Begin(), b.Begin()
	defer func() { ea(OutcomeOK); eb1(OutcomeOK); eb2(OutcomeOK) }()
	for range 4 {
		if m, _ := p.Pick(HashInput{}, nil); m != b {
			t.Fatalf("picked %s, want the weight-3 member", m.URL().Host)
		}
	}
}

func hashPool(t *testing.T, kind config.HashKind, name string, urls ...string) config.Pool {
	pc := poolCfg(t, "h", urls...)
	pc.Balance = config.BalanceHash
	pc.Hash = config.HashKey{Kind: kind, Name: name}
	return pc
}

func userKey(i int) HashInput {
	return HashInput{Header: http.Header{"X-User-Id": {fmt.Sprintf("user-%d", i)}}}
}

// mapping records which member each of n keys lands on.
func mapping(t *testing.T, p *Pool, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		m, err := p.Pick(userKey(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = m.URL().Host
	}
	return out
}

func TestHashStickyAndMinimalRemap(t *testing.T) {
	const keys = 4000
	urls := fakeMembers(5)
	p := newSet(t, []config.Pool{hashPool(t, config.HashHeader, "x-user-id", urls...)}, Options{}).Pool("h")

	before := mapping(t, p, keys)
	if diff := cmp.Diff(before, mapping(t, p, keys)); diff != "" {
		t.Fatalf("mapping not stable:\n%s", diff)
	}
	share := map[string]int{}
	for _, h := range before {
		share[h]++
	}
	for h, n := range share {
		if n < keys/5/2 || n > keys/5*2 {
			t.Errorf("member %s owns %d of %d keys: badly unbalanced", h, n, keys)
		}
	}

	leaving := p.Members()[2]
	checkOnlyMoved := func(t *testing.T, after []string, from string) {
		t.Helper()
		moved := 0
		for i := range after {
			switch {
			case before[i] == from:
				if after[i] == from {
					t.Fatalf("key %d still on the member that left", i)
				}
				moved++
			case after[i] != before[i]:
				t.Fatalf("key %d moved %s -> %s though its member stayed", i, before[i], after[i])
			}
		}
		if moved != share[from] {
			t.Fatalf("moved %d keys, want %d", moved, share[from])
		}
	}

	t.Run("member unhealthy", func(t *testing.T) {
		leaving.up.Store(false)
		checkOnlyMoved(t, mapping(t, p, keys), leaving.URL().Host)
		leaving.up.Store(true)
		if diff := cmp.Diff(before, mapping(t, p, keys)); diff != "" {
			t.Fatalf("keys did not return after recovery:\n%s", diff)
		}
	})

	t.Run("member removed from config", func(t *testing.T) {
		rest := append(append([]string{}, urls[:2]...), urls[3:]...)
		q := newSet(t, []config.Pool{hashPool(t, config.HashHeader, "X-User-Id", rest...)}, Options{}).Pool("h")
		checkOnlyMoved(t, mapping(t, q, keys), leaving.URL().Host)
	})

	t.Run("member added to config", func(t *testing.T) {
		more := append(append([]string{}, urls...), "http://127.0.0.1:10099")
		q := newSet(t, []config.Pool{hashPool(t, config.HashHeader, "X-User-Id", more...)}, Options{}).Pool("h")
		after := mapping(t, q, keys)
		for i := range after {
			if after[i] != before[i] && after[i] != "127.0.0.1:10099" {
				t.Fatalf("key %d moved %s -> %s, not to the new member", i, before[i], after[i])
			}
		}
	})
}

func TestHashWeighted(t *testing.T) {
	const keys = 8000
	pc := withWeights(hashPool(t, config.HashHeader, "X-User-Id", fakeMembers(2)...), 1, 3)
	p := newSet(t, []config.Pool{pc}, Options{}).Pool("h")
	heavy := 0
	for _, h := range mapping(t, p, keys) {
		if h == "127.0.0.1:10002" {
			heavy++
		}
	}
	if frac := float64(heavy) / keys; frac < 0.70 || frac > 0.80 {
		t.Errorf("weight-3 member owns %.3f of keys, want about 0.75", frac)
	}
}

func TestHashKeys(t *testing.T) {
	urls := fakeMembers(4)
	tests := []struct {
		name    string
		kind    config.HashKind
		keyName string
		a, b    HashInput // same key written differently
		other   HashInput // a different key
		missing HashInput
	}{
		{
			name: "header", kind: config.HashHeader, keyName: "x-session",
			a:       HashInput{Header: http.Header{"X-Session": {"s1"}}},
			b:       HashInput{Header: http.Header{"X-Session": {"s1", "ignored"}}},
			other:   HashInput{Header: http.Header{"X-Session": {"s2"}}},
			missing: HashInput{Header: http.Header{"X-Other": {"s1"}}},
		},
		{
			name: "cookie", kind: config.HashCookie, keyName: "session",
			a:       HashInput{Header: http.Header{"Cookie": {"session=s1"}}},
			b:       HashInput{Header: http.Header{"Cookie": {"a=b", `x=1; session="s1"; y=2`}}},
			other:   HashInput{Header: http.Header{"Cookie": {"session=s2"}}},
			missing: HashInput{Header: http.Header{"Cookie": {"sessionx=s1; Session=s1"}}},
		},
		{
			name: "client ip", kind: config.HashClientIP,
			a:       HashInput{ClientIP: netip.MustParseAddr("192.0.2.1")},
			b:       HashInput{ClientIP: netip.MustParseAddr("::ffff:192.0.2.1")},
			other:   HashInput{ClientIP: netip.MustParseAddr("192.0.2.2")},
			missing: HashInput{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newSet(t, []config.Pool{hashPool(t, tt.kind, tt.keyName, urls...)}, Options{}).Pool("h")
			ka, ok := p.hashKey(tt.a)
			if !ok {
				t.Fatal("key a not found")
			}
			if kb, ok := p.hashKey(tt.b); !ok || kb != ka {
				t.Errorf("key b = %x, %v; want %x, true", kb, ok, ka)
			}
			if ko, ok := p.hashKey(tt.other); !ok || ko == ka {
				t.Errorf("other key = %x, %v; want a different key", ko, ok)
			}
			if _, ok := p.hashKey(tt.missing); ok {
				t.Error("missing key reported as present")
			}
			first, _ := p.Pick(tt.a, nil)
			for range 10 {
				if m, _ := p.Pick(tt.b, nil); m != first {
					t.Fatalf("same key went to %s and %s", first.URL().Host, m.URL().Host)
				}
			}
			// A missing key falls back to round robin: every member in turn.
			if got := pickN(t, p, 8, tt.missing); len(got) != len(urls) {
				t.Errorf("missing key picks = %v, want round robin over %d members", got, len(urls))
			}
		})
	}
}

func TestCookieValue(t *testing.T) {
	tests := []struct {
		line, name, want string
		ok               bool
	}{
		{"a=1", "a", "1", true},
		{"a=1; b=2", "b", "2", true},
		{" b = 2 ", "b", "", false}, // "b " is not "b"
		{"a=1;b=2;", "b", "2", true},
		{`s="quoted"`, "s", "quoted", true},
		{`s="`, "s", `"`, true},
		{"s=1; s=2", "s", "1", true},
		{"S=1", "s", "", false},
		{"s", "s", "", true},
		{"", "s", "", false},
		{";;;", "s", "", false},
		{"x=a=b; s=c=d", "s", "c=d", true},
	}
	for _, tt := range tests {
		t.Run(tt.line+"/"+tt.name, func(t *testing.T) {
			got, ok := cookieValue(tt.line, tt.name)
			if got != tt.want || ok != tt.ok {
				t.Errorf("cookieValue(%q, %q) = %q, %v; want %q, %v", tt.line, tt.name, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzCookieValue checks the allocation-free cookie scanner against
// net/http on every line net/http accepts.
func FuzzCookieValue(f *testing.F) {
	for _, s := range []string{"a=1; b=2", `s="q"`, "s", ";;", "a=b=c", " s=1 ;s=2", "\ts=\"\"", "s=1;\r\n"} {
		f.Add(s, "s")
	}
	f.Fuzz(func(t *testing.T, line, name string) {
		got, ok := cookieValue(line, name)
		if ok && !strings.Contains(line, got) {
			t.Fatalf("value %q is not part of %q", got, line)
		}
		cookies, err := http.ParseCookie(line)
		if err != nil {
			return
		}
		for _, c := range cookies {
			if c.Name == name {
				if !ok || got != c.Value {
					t.Fatalf("cookieValue(%q, %q) = %q, %v; net/http says %q", line, name, got, ok, c.Value)
				}
				return
			}
		}
		if ok {
			t.Fatalf("cookieValue(%q, %q) found %q; net/http found no such cookie", line, name, got)
		}
	})
}

func TestPickAllocs(t *testing.T) {
	for _, bal := range []config.Balance{config.BalanceRoundRobin, config.BalanceLeastRequests, config.BalanceHash} {
		t.Run(string(bal), func(t *testing.T) {
			pc := poolCfg(t, "p", fakeMembers(4)...)
			pc.Balance = bal
			pc.Hash = config.HashKey{Kind: config.HashCookie, Name: "sid"}
			p := newSet(t, []config.Pool{pc}, Options{}).Pool("p")
			key := HashInput{Header: http.Header{"Cookie": {"a=b; sid=12345"}}}
			tried := make([]*Member, 0, 4)
			tried = append(tried, p.Members()[0])
			allocs := testing.AllocsPerRun(200, func() {
				if _, err := p.Pick(key, tried); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Pick allocates %.1f times per call, want 0", allocs)
			}
		})
	}
}
