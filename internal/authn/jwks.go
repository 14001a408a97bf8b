package authn

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	jose "github.com/go-jose/go-jose/v4"
)

// Bounds on a key set: real ones hold a handful of keys and a few KiB.
const (
	maxJWKSBytes  = 1 << 20
	maxJWKSKeys   = 100
	maxKIDBytes   = 256
	minRSABits    = 2048
	maxJSONDepth  = 32
	maxTokenParts = 3
)

// key is one verification key of an issuer.
type key struct {
	kid string
	// alg is the key's own alg member, "" when it has none.
	alg string
	// kty is "RSA", "EC" or "OKP"; crv the curve for EC and OKP.
	kty, crv string
	pub      any
	// removed is set when a refresh no longer lists the key, so that
	// cached tokens it verified stop being accepted at once.
	removed atomic.Bool
}

// matches reports whether k may verify a token signed with alg: the key
// type (and curve) must be the algorithm's, and the key's own alg, when it
// names one, must be alg.
func (k *key) matches(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return k.kty == "RSA"
	case "ES256":
		return k.kty == "EC" && k.crv == "P-256"
	case "ES384":
		return k.kty == "EC" && k.crv == "P-384"
	case "ES512":
		return k.kty == "EC" && k.crv == "P-521"
	case "EdDSA":
		return k.kty == "OKP" && k.crv == "Ed25519"
	}
	return false
}

// defaultAlg is the algorithm a key is pinned to when the issuer
// configures none: its alg member, else the usual one for its type.
func (k *key) defaultAlg() string {
	if k.alg != "" {
		return k.alg
	}
	switch k.kty {
	case "RSA":
		return "RS256"
	case "EC":
		switch k.crv {
		case "P-256":
			return "ES256"
		case "P-384":
			return "ES384"
		case "P-521":
			return "ES512"
		}
	case "OKP":
		return "EdDSA"
	}
	return ""
}

// keySet is an immutable set of keys, replaced whole on refresh.
type keySet struct {
	keys []*key
	// algs is the set of algorithms the keys are pinned to.
	algs []string
	// skipped counts keys left out (private, symmetric, encryption-only,
	// unparseable, too weak), for the log.
	skipped int
}

// ParseJWKS parses a JSON Web Key Set as published by an OpenID provider
// and returns the number of usable signature keys. Keys that cannot be used
// for verification (encryption keys, symmetric or private keys, RSA keys
// under 2048 bits, unknown types, unparseable entries) are skipped; a set
// that is not JSON, has duplicate member names, or has more than 100 keys
// is an error. It exists for tests and tools; the gateway uses the same
// parser internally.
func ParseJWKS(data []byte) (usable int, err error) {
	ks, err := parseJWKS(data)
	if err != nil {
		return 0, err
	}
	return len(ks.keys), nil
}

func parseJWKS(data []byte) (*keySet, error) {
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("key set larger than %d bytes", maxJWKSBytes)
	}
	if err := checkJSON(data); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	if len(doc.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("key set has %d keys; at most %d are accepted", len(doc.Keys), maxJWKSKeys)
	}
	ks := &keySet{}
	for _, raw := range doc.Keys {
		k, ok := parseJWK(raw)
		if !ok {
			ks.skipped++
			continue
		}
		ks.keys = append(ks.keys, k)
		if a := k.defaultAlg(); a != "" && !contains(ks.algs, a) {
			ks.algs = append(ks.algs, a)
		}
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("key set has no usable signature key")
	}
	return ks, nil
}

func parseJWK(raw json.RawMessage) (*key, bool) {
	var meta struct {
		Kty string `json:"kty"`
		Use string `json:"use"`
		D   any    `json:"d"`
	}
	if json.Unmarshal(raw, &meta) != nil {
		return nil, false
	}
	// Only public signature keys: never symmetric keys from a JWKS (HMAC
	// secrets are configured, not fetched), never private ones.
	if meta.Kty == "oct" || meta.D != nil || meta.Use != "" && meta.Use != "sig" {
		return nil, false
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, false
	}
	if len(jwk.KeyID) > maxKIDBytes {
		return nil, false
	}
	k := &key{kid: jwk.KeyID, alg: jwk.Algorithm, kty: meta.Kty, pub: jwk.Key}
	switch pub := jwk.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits || k.kty != "RSA" {
			return nil, false
		}
	case *ecdsa.PublicKey:
		if k.kty != "EC" {
			return nil, false
		}
		switch pub.Curve {
		case elliptic.P256():
			k.crv = "P-256"
		case elliptic.P384():
			k.crv = "P-384"
		case elliptic.P521():
			k.crv = "P-521"
		default:
			return nil, false
		}
	case ed25519.PublicKey:
		if k.kty != "OKP" {
			return nil, false
		}
		k.crv = "Ed25519"
	default:
		return nil, false
	}
	if k.alg != "" && !k.matches(k.alg) {
		// An alg member that contradicts the key type: unusable.
		return nil, false
	}
	return k, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
