package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"

	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// maxJWKSBytes bounds the key set body read.
	maxJWKSBytes = 1 << 20
	// maxKeys bounds how many keys of a set are kept.
	maxKeys = 64
)

// jwk is one usable public key.
type jwk struct {
	alg string
	pub any // *ecdsa.PublicKey or ed25519.PublicKey
}

// keySet is an immutable set of keys by kid.
type keySet struct {
	keys    map[string]*jwk
	fetched time.Time
	maxAge  time.Duration
	etag    string
	// gen counts fetches that changed the set, so cached verifications
	// made with a removed key can be told apart.
	gen uint64
}

// jwksCache fetches and caches the edge's key set. Fetches are
// single-flight; refetches for an unknown kid are rate-limited.
type jwksCache struct {
	url      string
	client   *http.Client
	now      func() time.Time
	minFetch time.Duration
	defAge   time.Duration

	mu   sync.Mutex
	set  *keySet
	busy chan struct{} // closed when the fetch in flight ends
	last time.Time     // start of the last fetch attempt
	err  error         // result of the last fetch
}

// fetch loads the key set now (or waits for the fetch in flight).
func (c *jwksCache) fetch(ctx context.Context) error {
	c.mu.Lock()
	if c.busy != nil {
		ch := c.busy
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	}
	ch := make(chan struct{})
	c.busy, c.last = ch, c.now()
	prev := c.set
	c.mu.Unlock()

	set, err := c.load(ctx, prev)

	c.mu.Lock()
	if err == nil {
		c.set = set
	}
	c.err = err
	c.busy = nil
	close(ch)
	c.mu.Unlock()
	return err
}

// current returns the cached set, starting a background refresh when it
// is older than its max age.
func (c *jwksCache) current() *keySet {
	c.mu.Lock()
	set := c.set
	stale := set != nil && c.busy == nil && c.now().Sub(set.fetched) > set.maxAge && c.now().Sub(c.last) > c.minFetch
	c.mu.Unlock()
	if stale {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = c.fetch(ctx)
		}()
	}
	return set
}

// refetchFor refetches because kid is unknown, unless a fetch happened
// within minFetch (a flood of made-up kids costs at most one fetch per
// interval). It reports whether the set now has kid.
func (c *jwksCache) refetchFor(ctx context.Context, kid string) *keySet {
	c.mu.Lock()
	recent := c.busy == nil && c.now().Sub(c.last) < c.minFetch
	c.mu.Unlock()
	if !recent {
		_ = c.fetch(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set
}

func (c *jwksCache) load(ctx context.Context, prev *keySet) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	req.Header.Set("Accept", "application/json")
	if prev != nil && prev.etag != "" {
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	defer resp.Body.Close()
	now := c.now()
	maxAge := cacheMaxAge(resp.Header.Get("Cache-Control"), c.defAge)
	if resp.StatusCode == http.StatusNotModified && prev != nil {
		cp := *prev
		cp.fetched, cp.maxAge = now, maxAge
		return &cp, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %d", ErrJWKS, c.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrJWKS, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: key set larger than %d bytes", ErrJWKS, maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, err
	}
	set := &keySet{keys: keys, fetched: now, maxAge: maxAge, etag: resp.Header.Get("ETag"), gen: 1}
	if prev != nil {
		set.gen = prev.gen
		if !sameKeys(prev.keys, keys) {
			set.gen++
		}
	}
	return set, nil
}

func sameKeys(a, b map[string]*jwk) bool {
	if len(a) != len(b) {
		return false
	}
	for kid := range a {
		if _, ok := b[kid]; !ok {
			return false
		}
	}
	return true
}

// parseJWKS reads a JWK set, keeping the P-256 (ES256) and Ed25519 (EdDSA)
// signing keys that have a kid and skipping everything else.
func parseJWKS(body []byte) (map[string]*jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Crv string `json:"crv"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			X   string `json:"x"`
			Y   string `json:"y"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	out := make(map[string]*jwk)
	for _, k := range set.Keys {
		if k.Kid == "" || k.D != "" || (k.Use != "" && k.Use != "sig") || len(out) >= maxKeys {
			continue
		}
		if _, dup := out[k.Kid]; dup {
			// Two keys with one kid: trust neither.
			out[k.Kid] = nil
			continue
		}
		switch {
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
			x, errX := b64.DecodeString(k.X)
			y, errY := b64.DecodeString(k.Y)
			if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
				continue
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			out[k.Kid] = &jwk{alg: "ES256", pub: pub}
		case k.Kty == "OKP" && k.Crv == "Ed25519" && (k.Alg == "" || k.Alg == "EdDSA"):
			x, err := b64.DecodeString(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				continue
			}
			out[k.Kid] = &jwk{alg: "EdDSA", pub: ed25519.PublicKey(x)}
		}
	}
	for kid, k := range out {
		if k == nil {
			delete(out, kid)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no usable ES256 or EdDSA key", ErrJWKS)
	}
	return out, nil
}

// cacheMaxAge reads max-age from Cache-Control, clamped to [5s, 1h].
func cacheMaxAge(cc string, def time.Duration) time.Duration {
	for _, part := range strings.Split(cc, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(k, "max-age") {
			if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil {
				return min(max(time.Duration(n)*time.Second, 5*time.Second), time.Hour)
			}
		}
	}
	return def
}
