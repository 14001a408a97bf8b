package verifier

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// MaxTokenBytes bounds the assertion accepted; real ones are well under 2 KB.
const MaxTokenBytes = 16 << 10

// b64 is strict unpadded base64url: padding, "+" and "/" and non-zero
// trailing bits are refused, so one token has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// header is the JOSE header fields the verifier looks at.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// claims are the assertion's claims as signed.
type claims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      audience `json:"aud"`
	Exp      *numeric `json:"exp"`
	Iat      *numeric `json:"iat"`
	Nbf      *numeric `json:"nbf"`
	Jti      string   `json:"jti"`
	Rid      string   `json:"rid"`
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
	Roles    []string `json:"roles"`
	Auth     string   `json:"auth"`
	Service  string   `json:"svc"`
	ClientID string   `json:"client_id"`
	IDP      string   `json:"idp"`
}

// audience accepts a string or a list of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// numeric is a JWT NumericDate: seconds since the epoch.
type numeric float64

func (n *numeric) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return fmt.Errorf("date %v out of range", f)
	}
	*n = numeric(f)
	return nil
}

func (n *numeric) time() time.Time {
	sec, frac := math.Modf(float64(*n))
	return time.Unix(int64(sec), int64(frac*1e9))
}

// parsed is a compact JWS split and decoded, not yet verified.
type parsed struct {
	hdr          header
	signingInput []byte
	sig          []byte
	payload      []byte
}

// parse splits and decodes a compact JWS, refusing anything but
// three strict base64url parts with a header of an allowed algorithm.
func parse(token string) (*parsed, error) {
	if token == "" {
		return nil, ErrMissing
	}
	if len(token) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxTokenBytes)
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return nil, fmt.Errorf("%w: not three dot-separated parts", ErrMalformed)
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	out := &parsed{signingInput: []byte(token[:len(h)+1+len(p)])}
	if err := strictJSON(hb, &out.hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	if out.hdr.Alg != "ES256" && out.hdr.Alg != "EdDSA" {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, out.hdr.Alg)
	}
	if out.hdr.Crit != nil {
		return nil, fmt.Errorf("%w: unsupported crit header", ErrMalformed)
	}
	if out.hdr.Kid == "" || len(out.hdr.Kid) > 128 {
		return nil, fmt.Errorf("%w: missing or oversized kid", ErrMalformed)
	}
	if out.payload, err = b64.DecodeString(p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if out.sig, err = b64.DecodeString(s); err != nil || len(out.sig) == 0 {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	return out, nil
}

// strictJSON decodes one JSON object and nothing after it.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

// verifySig checks sig over in with key k; alg must be k's.
func verifySig(k *jwk, alg string, in, sig []byte) bool {
	if alg != k.alg {
		return false
	}
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		// ES256 signatures are r‖s, 32 bytes each (RFC 7518 §3.4), not DER.
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(in)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, sum[:], r, s)
	case ed25519.PublicKey:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, in, sig)
	}
	return false
}
