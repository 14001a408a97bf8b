package script

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"

	"github.com/dop251/goja"
)

// cryptoKey is the Go side of a CryptoKey.
type cryptoKey struct {
	alg     string // ECDSA, RSASSA-PKCS1-v1_5, RSA-PSS, HMAC, Ed25519, AES-GCM
	hash    crypto.Hash
	typ     string // public, private, secret
	pub     crypto.PublicKey
	priv    crypto.Signer
	secret  []byte
	curve   string
	modBits int
}

var hashes = map[string]crypto.Hash{"SHA-1": crypto.SHA1, "SHA-256": crypto.SHA256, "SHA-384": crypto.SHA384, "SHA-512": crypto.SHA512}

func newHash(h crypto.Hash) hash.Hash {
	switch h {
	case crypto.SHA1:
		return sha1.New()
	case crypto.SHA384:
		return sha512.New384()
	case crypto.SHA512:
		return sha512.New()
	}
	return sha256.New()
}

func digest(h crypto.Hash, data []byte) []byte {
	d := newHash(h)
	d.Write(data)
	return d.Sum(nil)
}

// algParams reads {name, hash, namedCurve, saltLength, iv, ...}.
type algParams struct {
	name, hash, curve  string
	saltLength         int64
	iv, additionalData []byte
	tagLength          int64
}

func (inst *instance) params(v goja.Value) algParams {
	var p algParams
	obj, ok := v.(*goja.Object)
	if !ok {
		inst.throw("crypto.subtle: algorithm must be a name or an object with a name")
	}
	p.name = canonAlg(inst.str(obj.Get("name")))
	if hv := obj.Get("hash"); hv != nil && !goja.IsUndefined(hv) {
		if ho, ok := hv.(*goja.Object); ok && ho.ClassName() == "Object" {
			p.hash = strings.ToUpper(inst.str(ho.Get("name")))
		} else {
			p.hash = strings.ToUpper(hv.String())
		}
	}
	p.curve = inst.str(obj.Get("namedCurve"))
	p.saltLength = -1
	if s := obj.Get("saltLength"); s != nil && !goja.IsUndefined(s) {
		p.saltLength = s.ToInteger()
	}
	if iv := obj.Get("iv"); iv != nil && !goja.IsUndefined(iv) {
		p.iv = inst.bytesOf(iv)
	}
	if ad := obj.Get("additionalData"); ad != nil && !goja.IsUndefined(ad) {
		p.additionalData = inst.bytesOf(ad)
	}
	p.tagLength = 128
	if t := obj.Get("tagLength"); t != nil && !goja.IsUndefined(t) {
		p.tagLength = t.ToInteger()
	}
	return p
}

func canonAlg(n string) string {
	for _, a := range []string{"ECDSA", "RSASSA-PKCS1-v1_5", "RSA-PSS", "HMAC", "Ed25519", "AES-GCM", "SHA-1", "SHA-256", "SHA-384", "SHA-512"} {
		if strings.EqualFold(a, n) {
			return a
		}
	}
	return n
}

func curveOf(name string) (elliptic.Curve, int) {
	switch name {
	case "P-256":
		return elliptic.P256(), 32
	case "P-384":
		return elliptic.P384(), 48
	case "P-521":
		return elliptic.P521(), 66
	}
	return nil, 0
}

// ImportKeyError is a DOMException-like crypto failure.
var errCrypto = errors.New("crypto operation failed")

func (inst *instance) cryptoHost(h *goja.Object) {
	vm := inst.vm
	wrapErr := func(what string, err error) {
		if err != nil {
			panic(vm.NewGoError(fmt.Errorf("%s: %w", what, err)))
		}
	}
	_ = h.Set("importKey", func(fc goja.FunctionCall) goja.Value {
		format := fc.Argument(0).String()
		p := inst.params(fc.Argument(2))
		var data []byte
		if format == "jwk" {
			data = []byte(fc.Argument(1).String())
		} else {
			data = inst.bytesOf(fc.Argument(1))
		}
		k, err := importKey(format, data, p)
		wrapErr("importKey", err)
		alg := vm.NewObject()
		_ = alg.Set("name", k.alg)
		if k.curve != "" {
			_ = alg.Set("namedCurve", k.curve)
		}
		if k.hash != 0 && k.alg != "ECDSA" {
			ho := vm.NewObject()
			_ = ho.Set("name", hashName(k.hash))
			_ = alg.Set("hash", ho)
		}
		if k.modBits > 0 {
			_ = alg.Set("modulusLength", k.modBits)
		}
		if k.alg == "AES-GCM" {
			_ = alg.Set("length", len(k.secret)*8)
		}
		out := vm.NewObject()
		_ = out.Set("type", k.typ)
		_ = out.Set("algorithm", alg)
		_ = out.Set("handle", k)
		return out
	})
	keyArg := func(v goja.Value) *cryptoKey {
		k, ok := v.Export().(*cryptoKey)
		if !ok {
			inst.throw("crypto.subtle: not a CryptoKey")
		}
		return k
	}
	_ = h.Set("sign", func(fc goja.FunctionCall) goja.Value {
		p := inst.params(fc.Argument(0))
		k := keyArg(fc.Argument(1))
		sig, err := signData(p, k, inst.bytesOf(fc.Argument(2)))
		wrapErr("sign", err)
		return vm.ToValue(vm.NewArrayBuffer(sig))
	})
	_ = h.Set("verify", func(fc goja.FunctionCall) goja.Value {
		p := inst.params(fc.Argument(0))
		k := keyArg(fc.Argument(1))
		ok, err := verifyData(p, k, inst.bytesOf(fc.Argument(2)), inst.bytesOf(fc.Argument(3)))
		wrapErr("verify", err)
		return vm.ToValue(ok)
	})
	_ = h.Set("digest", func(fc goja.FunctionCall) goja.Value {
		p := inst.params(fc.Argument(0))
		hh, ok := hashes[p.name]
		if !ok {
			inst.throw("digest: unsupported algorithm %q (SHA-1, SHA-256, SHA-384, SHA-512)", p.name)
		}
		return vm.ToValue(vm.NewArrayBuffer(digest(hh, inst.bytesOf(fc.Argument(1)))))
	})
	_ = h.Set("cipher", func(fc goja.FunctionCall) goja.Value {
		enc := fc.Argument(0).ToBoolean()
		p := inst.params(fc.Argument(1))
		k := keyArg(fc.Argument(2))
		out, err := aesGCM(enc, p, k, inst.bytesOf(fc.Argument(3)))
		wrapErr(map[bool]string{true: "encrypt", false: "decrypt"}[enc], err)
		inst.charge(inst.cur, int64(len(out)))
		return vm.ToValue(vm.NewArrayBuffer(out))
	})
}

func hashName(h crypto.Hash) string {
	for n, x := range hashes {
		if x == h {
			return n
		}
	}
	return ""
}

func importKey(format string, data []byte, p algParams) (*cryptoKey, error) {
	k := &cryptoKey{alg: p.name}
	if p.hash != "" {
		h, ok := hashes[p.hash]
		if !ok {
			return nil, fmt.Errorf("unsupported hash %q", p.hash)
		}
		k.hash = h
	}
	if format == "jwk" {
		return importJWK(data, k, p)
	}
	switch p.name {
	case "HMAC", "AES-GCM":
		if format != "raw" {
			return nil, fmt.Errorf("%s keys import as raw or jwk, not %s", p.name, format)
		}
		if p.name == "HMAC" && k.hash == 0 {
			return nil, errors.New("HMAC needs a hash")
		}
		if p.name == "AES-GCM" && len(data) != 16 && len(data) != 24 && len(data) != 32 {
			return nil, errors.New("AES key must be 128, 192 or 256 bits")
		}
		k.typ, k.secret = "secret", append([]byte(nil), data...)
		return k, nil
	case "ECDSA", "RSASSA-PKCS1-v1_5", "RSA-PSS", "Ed25519":
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", p.name)
	}
	switch format {
	case "spki":
		pub, err := x509.ParsePKIXPublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("invalid spki key: %w", err)
		}
		k.typ, k.pub = "public", pub
	case "pkcs8":
		priv, err := x509.ParsePKCS8PrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("invalid pkcs8 key: %w", err)
		}
		s, ok := priv.(crypto.Signer)
		if !ok {
			return nil, errors.New("unsupported private key")
		}
		k.typ, k.priv, k.pub = "private", s, s.Public()
	case "raw":
		switch p.name {
		case "ECDSA":
			c, _ := curveOf(p.curve)
			if c == nil {
				return nil, fmt.Errorf("unsupported namedCurve %q", p.curve)
			}
			x, y := elliptic.Unmarshal(c, data) //nolint:staticcheck // WebCrypto raw import is the uncompressed point
			if x == nil {
				return nil, errors.New("invalid raw EC point")
			}
			k.typ, k.pub = "public", &ecdsa.PublicKey{Curve: c, X: x, Y: y}
		case "Ed25519":
			if len(data) != ed25519.PublicKeySize {
				return nil, errors.New("invalid raw Ed25519 key")
			}
			k.typ, k.pub = "public", ed25519.PublicKey(append([]byte(nil), data...))
		default:
			return nil, fmt.Errorf("%s keys do not import as raw", p.name)
		}
	default:
		return nil, fmt.Errorf("unsupported key format %q", format)
	}
	return k, checkKeyAlg(k, p)
}

// checkKeyAlg checks that the key material fits the algorithm.
func checkKeyAlg(k *cryptoKey, p algParams) error {
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		if k.alg != "ECDSA" {
			return fmt.Errorf("an EC key cannot be used for %s", k.alg)
		}
		c, _ := curveOf(p.curve)
		if c == nil || c != pub.Curve {
			return fmt.Errorf("the key's curve is not %q", p.curve)
		}
		k.curve = p.curve
	case *rsa.PublicKey:
		if k.alg != "RSASSA-PKCS1-v1_5" && k.alg != "RSA-PSS" {
			return fmt.Errorf("an RSA key cannot be used for %s", k.alg)
		}
		if k.hash == 0 {
			return errors.New("RSA keys need a hash")
		}
		k.modBits = pub.N.BitLen()
	case ed25519.PublicKey:
		if k.alg != "Ed25519" {
			return fmt.Errorf("an Ed25519 key cannot be used for %s", k.alg)
		}
	default:
		return errors.New("unsupported key type")
	}
	return nil
}

func importJWK(data []byte, k *cryptoKey, p algParams) (*cryptoKey, error) {
	var j struct {
		Kty, Crv, X, Y, D, N, E, K string
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("invalid JWK: %w", err)
	}
	b := func(s string) []byte {
		out, _ := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		return out
	}
	switch j.Kty {
	case "oct":
		k.typ, k.secret = "secret", b(j.K)
		if len(k.secret) == 0 {
			return nil, errors.New("invalid JWK: empty k")
		}
		return k, nil
	case "EC":
		c, _ := curveOf(j.Crv)
		if c == nil {
			return nil, fmt.Errorf("unsupported crv %q", j.Crv)
		}
		pub := &ecdsa.PublicKey{Curve: c, X: new(big.Int).SetBytes(b(j.X)), Y: new(big.Int).SetBytes(b(j.Y))}
		if !c.IsOnCurve(pub.X, pub.Y) { //nolint:staticcheck // point validation of an imported JWK
			return nil, errors.New("invalid JWK: point not on curve")
		}
		k.typ, k.pub = "public", pub
		if j.D != "" {
			k.typ, k.priv = "private", &ecdsa.PrivateKey{PublicKey: *pub, D: new(big.Int).SetBytes(b(j.D))}
		}
	case "RSA":
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(b(j.N)), E: int(new(big.Int).SetBytes(b(j.E)).Int64())}
		if pub.N.BitLen() < 1024 || pub.E < 3 {
			return nil, errors.New("invalid JWK: RSA key too small")
		}
		k.typ, k.pub = "public", pub
		if j.D != "" {
			return nil, errors.New("RSA private JWK import is not supported; use pkcs8")
		}
	case "OKP":
		if j.Crv != "Ed25519" || len(b(j.X)) != ed25519.PublicKeySize {
			return nil, errors.New("invalid JWK: OKP key must be Ed25519")
		}
		k.typ, k.pub = "public", ed25519.PublicKey(b(j.X))
		if j.D != "" {
			k.typ, k.priv = "private", ed25519.NewKeyFromSeed(b(j.D))
		}
	default:
		return nil, fmt.Errorf("unsupported kty %q", j.Kty)
	}
	if k.curve == "" && j.Crv != "" && k.alg == "ECDSA" && p.curve == "" {
		p.curve = j.Crv
	}
	return k, checkKeyAlg(k, p)
}

func signData(p algParams, k *cryptoKey, data []byte) ([]byte, error) {
	if p.name != k.alg {
		return nil, fmt.Errorf("the key is for %s, not %s", k.alg, p.name)
	}
	if k.alg == "HMAC" {
		m := hmac.New(func() hash.Hash { return newHash(k.hash) }, k.secret)
		m.Write(data)
		return m.Sum(nil), nil
	}
	if k.priv == nil {
		return nil, errors.New("signing needs a private key")
	}
	switch k.alg {
	case "Ed25519":
		return ed25519.Sign(k.priv.(ed25519.PrivateKey), data), nil
	case "ECDSA":
		h, ok := hashes[p.hash]
		if !ok {
			return nil, errors.New("ECDSA needs a hash")
		}
		priv := k.priv.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(nil, priv, digest(h, data))
		if err != nil {
			return nil, err
		}
		_, n := curveOf(k.curve)
		out := make([]byte, 2*n)
		r.FillBytes(out[:n])
		s.FillBytes(out[n:])
		return out, nil
	case "RSASSA-PKCS1-v1_5":
		return rsa.SignPKCS1v15(nil, k.priv.(*rsa.PrivateKey), k.hash, digest(k.hash, data))
	case "RSA-PSS":
		return rsa.SignPSS(nil, k.priv.(*rsa.PrivateKey), k.hash, digest(k.hash, data), &rsa.PSSOptions{SaltLength: int(max(p.saltLength, 0))})
	}
	return nil, fmt.Errorf("unsupported algorithm %q", k.alg)
}

func verifyData(p algParams, k *cryptoKey, sig, data []byte) (bool, error) {
	if p.name != k.alg {
		return false, fmt.Errorf("the key is for %s, not %s", k.alg, p.name)
	}
	switch k.alg {
	case "HMAC":
		m := hmac.New(func() hash.Hash { return newHash(k.hash) }, k.secret)
		m.Write(data)
		return subtle.ConstantTimeCompare(m.Sum(nil), sig) == 1, nil
	case "Ed25519":
		pub, _ := k.pub.(ed25519.PublicKey)
		return pub != nil && ed25519.Verify(pub, data, sig), nil
	case "ECDSA":
		h, ok := hashes[p.hash]
		if !ok {
			return false, errors.New("ECDSA needs a hash")
		}
		pub, _ := k.pub.(*ecdsa.PublicKey)
		_, n := curveOf(k.curve)
		if pub == nil || len(sig) != 2*n {
			return false, nil
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(pub, digest(h, data), r, s), nil
	case "RSASSA-PKCS1-v1_5":
		pub, _ := k.pub.(*rsa.PublicKey)
		return pub != nil && rsa.VerifyPKCS1v15(pub, k.hash, digest(k.hash, data), sig) == nil, nil
	case "RSA-PSS":
		pub, _ := k.pub.(*rsa.PublicKey)
		salt := rsa.PSSSaltLengthAuto
		if p.saltLength >= 0 {
			salt = int(p.saltLength)
		}
		return pub != nil && rsa.VerifyPSS(pub, k.hash, digest(k.hash, data), sig, &rsa.PSSOptions{SaltLength: salt}) == nil, nil
	}
	return false, fmt.Errorf("unsupported algorithm %q", k.alg)
}

func aesGCM(enc bool, p algParams, k *cryptoKey, data []byte) ([]byte, error) {
	if p.name != "AES-GCM" || k.alg != "AES-GCM" {
		return nil, errors.New("only AES-GCM is supported")
	}
	if p.tagLength != 128 {
		return nil, errors.New("only a 128-bit tag is supported")
	}
	blk, err := aes.NewCipher(k.secret)
	if err != nil {
		return nil, err
	}
	if len(p.iv) == 0 {
		return nil, errors.New("iv is required")
	}
	g, err := cipher.NewGCMWithNonceSize(blk, len(p.iv))
	if err != nil {
		return nil, err
	}
	if enc {
		return g.Seal(nil, p.iv, data, p.additionalData), nil
	}
	out, err := g.Open(nil, p.iv, data, p.additionalData)
	if err != nil {
		return nil, fmt.Errorf("%w: decryption failed", errCrypto)
	}
	return out, nil
}
