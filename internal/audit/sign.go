package audit

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Signer signs checkpoint payloads. The gateway's key ring implements it;
// its public keys are in the JWKS the gateway publishes, which is what
// `edgegate audit verify --jwks` checks signatures with.
type Signer interface {
	SignJWS(payload []byte) (string, error)
}

// KeySigner signs with one private key (ES256 for ECDSA P-256, EdDSA for
// Ed25519, RS256 for RSA). It is for tools and tests; the gateway signs
// with its key ring.
type KeySigner struct {
	signer jose.Signer
}

// NewKeySigner returns a Signer for key, naming it kid in the JWS header.
func NewKeySigner(key crypto.Signer, alg jose.SignatureAlgorithm, kid string) (*KeySigner, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg)}}, nil)
	if err != nil {
		return nil, fmt.Errorf("audit signer: %w", err)
	}
	return &KeySigner{signer: s}, nil
}

// SignJWS returns the compact JWS of payload.
func (s *KeySigner) SignJWS(payload []byte) (string, error) {
	obj, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign checkpoint: %w", err)
	}
	return obj.CompactSerialize()
}

// signatureAlgs are the algorithms a checkpoint may be signed with.
var signatureAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.RS256, jose.PS256}

// maxJWKSBytes bounds a JWKS document.
const maxJWKSBytes = 1 << 20

// LoadJWKS reads a JWKS from a file or an http(s) URL.
func LoadJWKS(ctx context.Context, src string) (*jose.JSONWebKeySet, error) {
	var data []byte
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("jwks %s: %w", src, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("jwks %s: status %d", src, resp.StatusCode)
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
		if err != nil {
			return nil, fmt.Errorf("jwks %s: %w", src, err)
		}
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks %s: larger than %d bytes", src, maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks %s: %w", src, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("jwks %s: no keys", src)
	}
	return &set, nil
}

// ErrBadSignature is wrapped by every signature check failure.
var ErrBadSignature = errors.New("bad checkpoint signature")

// verifySignature checks a compact JWS with the keys of set and returns
// the payload it signs and the key ID that signed it.
func verifySignature(jws string, set *jose.JSONWebKeySet) (CheckpointPayload, string, error) {
	var p CheckpointPayload
	obj, err := jose.ParseSigned(jws, signatureAlgs)
	if err != nil {
		return p, "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if len(obj.Signatures) != 1 {
		return p, "", fmt.Errorf("%w: want one signature", ErrBadSignature)
	}
	kid := obj.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if kid == "" {
		keys = set.Keys
	}
	if len(keys) == 0 {
		return p, kid, fmt.Errorf("%w: key %q is not in the JWKS", ErrBadSignature, kid)
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = obj.Verify(k.Public()); err == nil {
			break
		}
	}
	if err != nil {
		return p, kid, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, kid, fmt.Errorf("%w: payload: %v", ErrBadSignature, err)
	}
	return p, kid, nil
}
