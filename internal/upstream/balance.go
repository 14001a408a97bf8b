package upstream

import (
	"math"
	"strings"

	"github.com/edgegate/edgegate/internal/config"
)

// pickRR is smooth weighted round robin (as in nginx): every usable member
// gains its weight, the richest is chosen and pays the total. Members with
// weights 5,1,1 are chosen a a b a c a a, not a a a a a b c. Unusable
// members sit the round out, so the others share their turns by weight.
func (p *Pool) pickRR(tried []*Member) *Member {
	p.rrMu.Lock()
	var best *Member
	var total int64
	for _, m := range p.members {
		if !m.usable(tried) {
			continue
		}
		m.rrCurrent += m.weight
		total += m.weight
		if best == nil || m.rrCurrent > best.rrCurrent {
			best = m
		}
	}
	if best != nil {
		best.rrCurrent -= total
	}
	p.rrMu.Unlock()
	return best
}

// pickLeast chooses the member with the fewest requests in flight per unit
// of weight. The scan starts one member further each time, so ties (an
// idle pool) go round robin instead of always to the first member.
func (p *Pool) pickLeast(tried []*Member) *Member {
	n := uint64(len(p.members))
	start := (p.lrNext.Add(1) - 1) % n
	var best *Member
	var bestLoad int64
	for i := range n {
		j := start + i
		if j >= n {
			j -= n
		}
		m := p.members[j]
		if !m.usable(tried) {
			continue
		}
		load := m.inFlight.Load()
		// load/weight < bestLoad/best.weight without division.
		if best == nil || load*best.weight < bestLoad*m.weight {
			best, bestLoad = m, load
		}
	}
	return best
}

// pickHash is weighted rendezvous (highest random weight) hashing: each
// member scores the key independently and the best usable score wins. A
// member leaving (removed, unhealthy, ejected) only moves the keys it
// owned; everything else stays put, and its keys come back when it does.
func (p *Pool) pickHash(key uint64, tried []*Member) *Member {
	var best *Member
	var bestRaw uint64
	var bestScore float64
	for _, m := range p.members {
		if !m.usable(tried) {
			continue
		}
		x := mix64(key ^ m.seed)
		if p.uniformWeights {
			// With equal weights the score is monotonic in x.
			if best == nil || x > bestRaw {
				best, bestRaw = m, x
			}
			continue
		}
		// u in (0,1); w / -ln(u) gives each member a share proportional to
		// its weight (Schindelhauer and Schomaker, weighted distributed hash tables).
		u := (float64(x>>11) + 0.5) / (1 << 53)
		score := float64(m.weight) / -math.Log(u)
		if best == nil || score > bestScore {
			best, bestScore = m, score
		}
	}
	return best
}

// hashKey extracts and hashes the configured key; ok is false when the
// request does not carry it, and the pool then falls back to round robin.
func (p *Pool) hashKey(in HashInput) (uint64, bool) {
	switch p.hashKind {
	case config.HashHeader:
		if vs := in.Header[p.hashName]; len(vs) > 0 && vs[0] != "" {
			return hashString(vs[0]), true
		}
	case config.HashCookie:
		for _, line := range in.Header["Cookie"] {
			if v, ok := cookieValue(line, p.hashName); ok && v != "" {
				return hashString(v), true
			}
		}
	case config.HashClientIP:
		if in.ClientIP.IsValid() {
			b := in.ClientIP.Unmap().As16()
			return hashBytes(b[:]), true
		}
	}
	return 0, false
}

// cookieValue returns the value of the first cookie called name in one
// Cookie header line ("a=1; b=2"), with one pair of surrounding double
// quotes removed. It does not allocate. Unlike http.ParseCookie it does not
// reject a line because some other cookie in it is malformed: a stray
// cookie set by another application must not break stickiness.
func cookieValue(line, name string) (string, bool) {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		part = trimOWS(part)
		if part == "" {
			continue
		}
		n, v, _ := strings.Cut(part, "=")
		if n != name {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return "", false
}

// trimOWS trims the ASCII whitespace textproto.TrimString trims.
func trimOWS(s string) string {
	for s != "" && isOWS(s[0]) {
		s = s[1:]
	}
	for s != "" && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isOWS(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// FNV-1a 64, written out so that hashing a string does not allocate.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix64(h)
}

func hashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 is the murmur3 finalizer: it spreads every input bit over the
// output, which FNV alone does poorly for short keys.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
