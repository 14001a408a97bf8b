package authn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/identity"
)

// Allow selects the issuers a route accepts: bit i is identity.issuers[i].
type Allow uint64

// AllowAll accepts every configured issuer.
const AllowAll = ^Allow(0)

// Set verifies tokens against the configured issuers. It is safe for
// concurrent use and immutable apart from its cache and key sources.
type Set struct {
	verifiers []*Verifier
	byName    map[string]*Verifier
	cache     *tokenCache
	maxBytes  int
	now       func() time.Time
}

// Options configures NewSet.
type Options struct {
	// Sources holds the key sources; pass the same one across reloads so
	// that unchanged issuers keep their keys. Required.
	Sources *Sources
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// NewSet builds the verifiers of cfg. Keys of new issuers are fetched now;
// an issuer whose keys cannot be fetched makes it fail unless it says
// on_unreachable: fail_closed. ctx bounds those first fetches.
func NewSet(ctx context.Context, cfg config.Identity, opts Options) (*Set, error) {
	if opts.Sources == nil {
		return nil, fmt.Errorf("authn: Options.Sources is required")
	}
	if len(cfg.Issuers) > config.MaxIssuers {
		return nil, fmt.Errorf("authn: at most %d issuers", config.MaxIssuers)
	}
	s := &Set{
		byName:   make(map[string]*Verifier, len(cfg.Issuers)),
		cache:    newTokenCache(cfg.TokenCacheSize),
		maxBytes: cfg.MaxTokenBytes,
		now:      opts.Now,
		// Strict base64url, no padding; claims are checked by Verifier.check.
	}
	if s.maxBytes <= 0 {
		s.maxBytes = config.DefaultMaxTokenBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i, is := range cfg.Issuers {
		v, err := newVerifier(ctx, is, i, opts.Sources)
		if err != nil {
			return nil, err
		}
		s.verifiers = append(s.verifiers, v)
		s.byName[is.Name] = v
	}
	return s, nil
}

// Verifier returns the verifier of the issuer called name, or nil.
func (s *Set) Verifier(name string) *Verifier { return s.byName[name] }

// Verifiers returns the verifiers in configuration order.
func (s *Set) Verifiers() []*Verifier { return s.verifiers }

// Allow returns the mask for the named issuers; no names means all.
func (s *Set) Allow(names []string) (Allow, error) {
	if len(names) == 0 {
		return AllowAll, nil
	}
	var a Allow
	for _, n := range names {
		v := s.byName[n]
		if v == nil {
			return 0, fmt.Errorf("authn: no issuer named %q", n)
		}
		a |= 1 << v.idx
	}
	return a, nil
}

// Verify checks token (the bearer credential, without "Bearer ") against
// the issuers allowed by allow and returns the caller's identity. The
// identity may be shared with other requests presenting the same token:
// treat it as read-only. A refusal is an *Error.
func (s *Set) Verify(ctx context.Context, token string, allow Allow) (*identity.Identity, error) {
	if token == "" {
		return nil, fail(ReasonMissing, "", nil)
	}
	if len(token) > s.maxBytes {
		return nil, fail(ReasonTooLarge, "", nil)
	}
	now := s.now()
	// The token is hashed in place (sha256 only reads it), once: the hash
	// is the cache key and the identity's fingerprint.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	if s.cache != nil {
		if e := s.cache.get(&h, now.UnixNano()); e != nil && allow&(1<<e.v.idx) != 0 {
			return e.id, nil
		}
	}
	id, v, k, exp, err := s.verify(ctx, token, &h, allow, now)
	if err != nil {
		if v != nil && err.Issuer == "" {
			err.Issuer = v.cfg.Name
		}
		return nil, err
	}
	if s.cache != nil {
		s.cache.put(&h, &cacheEntry{id: id, v: v, k: k, exp: exp.UnixNano()}, now.UnixNano())
	}
	return id, nil
}

func (s *Set) verify(ctx context.Context, token string, sum *[32]byte, allow Allow, now time.Time) (*identity.Identity, *Verifier, *key, time.Time, *Error) {
	// Compact serialization only: three base64url segments, nothing
	// else. Checked here rather than before the cache lookup: a cached
	// token's exact bytes passed this check when it was verified.
	if !compactChars(token) {
		return nil, nil, nil, time.Time{}, fail(ReasonMalformed, "the token has characters a JWT cannot have", nil)
	}
	if strings.Count(token, ".") != maxTokenParts-1 {
		return nil, nil, nil, time.Time{}, fail(ReasonMalformed, "not three dot-separated segments", nil)
	}
	hdrSeg, rest, _ := strings.Cut(token, ".")
	payloadSeg, sigSeg, _ := strings.Cut(rest, ".")
	hdr, herr := parseHeader(hdrSeg)
	if herr != nil {
		return nil, nil, nil, time.Time{}, herr
	}
	// The segments are decoded here, once, in golang-jwt's order (claims,
	// algorithm, key, signature); the library checks the signature. Its
	// ParseWithClaims would decode the header a second time into a map,
	// a measurable part of a new token's cost.
	payload, derr := base64.RawURLEncoding.Strict().DecodeString(payloadSeg)
	if derr != nil {
		return nil, nil, nil, time.Time{}, fail(ReasonMalformed, "the claims are not base64url", nil)
	}
	var claims tokenClaims
	if err := claims.UnmarshalJSON(payload); err != nil {
		return nil, nil, nil, time.Time{}, mapParseError(err)
	}
	method := jwt.GetSigningMethod(hdr.Alg)
	if method == nil {
		// No alg, or one the library does not know ("None", "HS1", ...).
		return nil, nil, nil, time.Time{}, fail(ReasonAlgNotAllowed, "", nil)
	}
	chosen, e := s.pick(claims.m, allow)
	if e != nil {
		return nil, nil, nil, time.Time{}, e
	}
	pub, used, e := chosen.selectKey(ctx, hdr.Alg, hdr.Kid)
	if e != nil {
		return nil, chosen, nil, time.Time{}, e
	}
	sig, derr := base64.RawURLEncoding.Strict().DecodeString(sigSeg)
	if derr != nil {
		return nil, chosen, nil, time.Time{}, fail(ReasonMalformed, "the signature is not base64url", nil)
	}
	if err := method.Verify(token[:len(hdrSeg)+1+len(payloadSeg)], sig, pub); err != nil {
		return nil, chosen, nil, time.Time{}, fail(ReasonBadSignature, "", nil)
	}
	id, exp, e := chosen.check(claims.m, now, sum)
	if e != nil {
		return nil, chosen, nil, time.Time{}, e
	}
	return id, chosen, used, exp, nil
}

// pick chooses the verifier by the token's (not yet verified) iss among
// the allowed ones; with several for one iss (different audiences), the
// first whose audience the token names.
func (s *Set) pick(c map[string]any, allow Allow) (*Verifier, *Error) {
	iss, _ := c["iss"].(string)
	if iss == "" {
		return nil, fail(ReasonWrongIssuer, "the token has no iss", nil)
	}
	var first *Verifier
	for _, v := range s.verifiers {
		if v.cfg.Issuer != iss || allow&(1<<v.idx) == 0 {
			continue
		}
		if first == nil {
			first = v
		}
		if audienceOK(c["aud"], v.cfg.Audiences) {
			return v, nil
		}
	}
	if first != nil {
		return first, nil
	}
	for _, v := range s.verifiers {
		if v.cfg.Issuer == iss {
			return nil, fail(ReasonWrongIssuer, "the issuer is not accepted on this route", nil)
		}
	}
	return nil, fail(ReasonWrongIssuer, "", nil)
}

// compactChars reports whether s holds only the characters of the JWS
// compact serialization: base64url (RFC 7515 §2, no padding) and ".".
func compactChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
