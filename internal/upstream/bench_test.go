package upstream

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/metrics"
)

func benchPool(b *testing.B, bal config.Balance, hk config.HashKey, weights ...int) *Pool {
	pc := poolCfg(b, "p", fakeMembers(len(weights))...)
	for i, w := range weights {
		pc.Members[i].Weight = w
	}
	pc.Balance, pc.Hash = bal, hk
	s, err := NewSet([]config.Pool{pc}, Options{Timeouts: testTimeouts, Metrics: metrics.New()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(nil) })
	return s.Pool("p")
}

func BenchmarkPick(b *testing.B) {
	key := HashInput{
		Header:   http.Header{"X-User-Id": {"user-12345"}, "Cookie": {"theme=dark; sid=abcdef0123456789"}},
		ClientIP: netip.MustParseAddr("203.0.113.9"),
	}
	cases := []struct {
		name    string
		bal     config.Balance
		hk      config.HashKey
		weights []int
	}{
		{"round_robin", config.BalanceRoundRobin, config.HashKey{}, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"round_robin_weighted", config.BalanceRoundRobin, config.HashKey{}, []int{5, 1, 3, 1, 2, 1, 1, 1}},
		{"least_requests", config.BalanceLeastRequests, config.HashKey{}, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"hash_header", config.BalanceHash, config.HashKey{Kind: config.HashHeader, Name: "X-User-Id"}, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"hash_cookie", config.BalanceHash, config.HashKey{Kind: config.HashCookie, Name: "sid"}, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"hash_client_ip", config.BalanceHash, config.HashKey{Kind: config.HashClientIP}, []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"hash_weighted", config.BalanceHash, config.HashKey{Kind: config.HashHeader, Name: "X-User-Id"}, []int{5, 1, 3, 1, 2, 1, 1, 1}},
	}
	for _, c := range cases {
		p := benchPool(b, c.bal, c.hk, c.weights...)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Pick(key, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"_parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := p.Pick(key, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBeginEnd is the per-attempt bookkeeping: in-flight counters,
// the gauge, the outcome counter and passive health.
func BenchmarkBeginEnd(b *testing.B) {
	pc := poolCfg(b, "p", fakeMembers(2)...)
	pc.Passive = config.PassiveHealth{MaxFailures: 5, Window: 10e9, EjectFor: 30e9}
	s, err := NewSet([]config.Pool{pc}, Options{Timeouts: testTimeouts, Metrics: metrics.New()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(nil)
	m := s.Pool("p").Members()[0]
	b.ReportAllocs()
	for b.Loop() {
		m.Begin()(OutcomeOK)
	}
}
