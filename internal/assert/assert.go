// Package assert mints the signed identity assertion the gateway sends to
// origins: a short-lived JWT (ES256 or EdDSA, signed by the key ring) that
// names the verified caller and the origin it is meant for.
//
// Signing costs tens of microseconds, so an assertion is reused: one minted
// for the same credential (identity fingerprint), the same claims, the
// same audience and the same signing key is sent again while at least half
// of its life remains. A reused assertion therefore carries no per-request
// claim; the request ID travels in X-Request-Id. Options.PerRequest signs
// one assertion per request instead, with the request ID as the "rid"
// claim.
package assert

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/edgegate/edgegate/internal/identity"
	"github.com/edgegate/edgegate/internal/keys"
)

// MaxTTL is the longest assertion lifetime.
const MaxTTL = 5 * time.Minute

// ErrNotAuthenticated is returned for an anonymous identity: the gateway
// sends no assertion then.
var ErrNotAuthenticated = errors.New("no authenticated identity to assert")

// Signer gives the key that signs now; *keys.Ring is one.
type Signer interface {
	Signer() (*keys.Key, error)
}

// Options configures a Minter.
type Options struct {
	// Issuer is the iss claim: the gateway's name or URL.
	Issuer string
	// TTL is the assertion lifetime, at most MaxTTL.
	TTL time.Duration
	// PerRequest signs a new assertion for every request, with the request
	// ID in the "rid" claim, instead of reusing assertions.
	PerRequest bool
	// CacheSize bounds the reuse cache (entries). Default 16384.
	CacheSize int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Minter mints and reuses assertions. It is safe for concurrent use.
type Minter struct {
	signer Signer
	opts   Options
	now    func() time.Time
	seed   maphash.Seed
	shards [16]shard
}

type shard struct {
	mu sync.Mutex
	m  map[cacheKey]*entry
}

type cacheKey struct {
	fingerprint, audience, kid string
}

type entry struct {
	token  string
	digest uint64
	reuse  time.Time // reused until then (half life)
	exp    time.Time
}

// New returns a Minter signing with s.
func New(s Signer, opts Options) (*Minter, error) {
	if opts.Issuer == "" {
		return nil, errors.New("assert: issuer is required")
	}
	if opts.TTL <= 0 || opts.TTL > MaxTTL {
		return nil, fmt.Errorf("assert: ttl %v out of range (0, %v]", opts.TTL, MaxTTL)
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 16384
	}
	m := &Minter{signer: s, opts: opts, now: opts.Now, seed: maphash.MakeSeed()}
	if m.now == nil {
		m.now = time.Now
	}
	for i := range m.shards {
		m.shards[i].m = make(map[cacheKey]*entry)
	}
	return m, nil
}

// claims is the assertion payload. Standard claims first; "auth" is how
// the caller authenticated at the edge, "idp" the issuer that vouched.
type claims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      string   `json:"aud"`
	Iat      int64    `json:"iat"`
	Exp      int64    `json:"exp"`
	Jti      string   `json:"jti"`
	Rid      string   `json:"rid,omitempty"`
	Email    string   `json:"email,omitempty"`
	Name     string   `json:"name,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Auth     string   `json:"auth"`
	Service  string   `json:"svc,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	IDP      string   `json:"idp,omitempty"`
}

// Mint returns the assertion for id toward audience. reused is true when
// a cached assertion was returned.
func (m *Minter) Mint(id *identity.Identity, audience, requestID string) (token string, reused bool, err error) {
	if !id.Authenticated() || id.Subject == "" {
		return "", false, ErrNotAuthenticated
	}
	key, err := m.signer.Signer()
	if err != nil {
		return "", false, fmt.Errorf("assert: %w", err)
	}
	now := m.now()
	cacheable := !m.opts.PerRequest && id.Fingerprint != ""
	var ck cacheKey
	var digest uint64
	var sh *shard
	if cacheable {
		ck = cacheKey{id.Fingerprint, audience, key.ID}
		digest = m.digest(id)
		sh = &m.shards[maphash.String(m.seed, id.Fingerprint)&15]
		sh.mu.Lock()
		e := sh.m[ck]
		sh.mu.Unlock()
		if e != nil && e.digest == digest && now.Before(e.reuse) {
			return e.token, true, nil
		}
	}
	iat := now
	exp := now.Add(m.opts.TTL)
	if !id.Expiry.IsZero() && id.Expiry.Before(exp) {
		// Never vouch for a caller longer than its own credential holds.
		exp = id.Expiry
	}
	if !exp.After(iat) {
		return "", false, fmt.Errorf("assert: the identity has expired")
	}
	c := claims{Iss: m.opts.Issuer, Sub: id.Subject, Aud: audience, Iat: iat.Unix(), Exp: exp.Unix(), Jti: newJTI(),
		Email: id.Email, Name: id.Name, Groups: id.Groups, Roles: id.Roles, Auth: string(id.Method),
		Service: id.ServiceName, ClientID: id.ClientID, IDP: id.Issuer}
	if m.opts.PerRequest {
		c.Rid = requestID
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", false, fmt.Errorf("assert: %w", err)
	}
	hdr := key.JWTHeader()
	buf := make([]byte, 0, len(hdr)+1+base64.RawURLEncoding.EncodedLen(len(payload))+1+base64.RawURLEncoding.EncodedLen(64))
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, payload)
	sig, err := key.Sign(buf)
	if err != nil {
		return "", false, fmt.Errorf("assert: %w", err)
	}
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, sig)
	token = string(buf)
	if cacheable {
		life := exp.Sub(iat)
		e := &entry{token: token, digest: digest, reuse: iat.Add(life / 2), exp: exp}
		sh.mu.Lock()
		if len(sh.m) >= max(1, m.opts.CacheSize/len(m.shards)) {
			sh.evictLocked(now)
		}
		sh.m[ck] = e
		sh.mu.Unlock()
	}
	return token, false, nil
}

// evictLocked drops entries no longer reusable, and if that frees nothing,
// an arbitrary eighth of the shard.
func (s *shard) evictLocked(now time.Time) {
	for k, e := range s.m {
		if !now.Before(e.reuse) {
			delete(s.m, k)
		}
	}
	n := len(s.m) / 8
	for k := range s.m {
		if n--; n < 0 {
			break
		}
		delete(s.m, k)
	}
}

// digest hashes the claims an assertion is made of, so a cached one is only
// reused for exactly the same identity content (a session whose groups
// were refreshed gets a new assertion).
func (m *Minter) digest(id *identity.Identity) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	for _, s := range [...]string{id.Subject, id.Email, id.Name, string(id.Method), id.ServiceName, id.ClientID, id.Issuer} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	for _, l := range [...][]string{id.Groups, id.Roles} {
		for _, s := range l {
			h.WriteString(s)
			h.WriteByte(0)
		}
		h.WriteByte(1)
	}
	var t [8]byte
	e := id.Expiry.UnixNano()
	for i := range t {
		t[i] = byte(e >> (8 * i))
	}
	h.Write(t[:])
	return h.Sum64()
}

func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Len returns the number of cached assertions (for metrics and tests).
func (m *Minter) Len() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].m)
		m.shards[i].mu.Unlock()
	}
	return n
}
