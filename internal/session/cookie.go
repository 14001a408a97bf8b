package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// KeyRing supplies cookie keys. Current is the key new cookies are sealed
// with; Key finds an older key by ID so cookies sealed before a rotation
// still open while that key is kept. Keys are at least 32 bytes.
// The gateway's key ring (internal/keys) implements it.
type KeyRing interface {
	Current() (id string, key []byte)
	Key(id string) ([]byte, bool)
}

// Errors of Open. Each wraps ErrBadCookie.
var (
	ErrBadCookie  = errors.New("bad cookie")
	ErrMalformed  = fmt.Errorf("%w: malformed", ErrBadCookie)
	ErrUnknownKey = fmt.Errorf("%w: sealed with an unknown key", ErrBadCookie)
	ErrForged     = fmt.Errorf("%w: authentication failed", ErrBadCookie)
	ErrExpired    = fmt.Errorf("%w: expired", ErrBadCookie)
)

// MaxCookieBytes bounds what Open looks at; real cookies are far smaller.
const MaxCookieBytes = 4096

// Sealer encrypts and authenticates cookie values with AES-256-GCM. Each
// purpose (session, login state) gets its own derived key and is bound as
// additional data, so a value sealed for one purpose never opens as another.
// A Sealer must not be copied after first use.
type Sealer struct {
	Ring KeyRing

	// aeads caches derived ciphers: deriving one costs far more than
	// sealing or opening a cookie.
	mu    sync.RWMutex
	aeads map[aeadKey]cipher.AEAD
}

type aeadKey struct{ purpose, id, key string }

// aead returns the cipher for purpose under the ring key id.
func (s *Sealer) aead(purpose, id string, key []byte) (cipher.AEAD, error) {
	k := aeadKey{purpose, id, string(key)}
	s.mu.RLock()
	a, ok := s.aeads[k]
	s.mu.RUnlock()
	if ok {
		return a, nil
	}
	a, err := newAEAD(key, purpose)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aeads == nil || len(s.aeads) > 64 {
		// Retired keys drop out when the cache is rebuilt.
		s.aeads = make(map[aeadKey]cipher.AEAD)
	}
	s.aeads[k] = a
	return a, nil
}

// Seal returns the cookie value for payload, valid until expires:
// "<key id>.<base64url(nonce | ciphertext)>".
func (s *Sealer) Seal(purpose string, payload []byte, expires time.Time) (string, error) {
	id, key := s.Ring.Current()
	if !validKeyID(id) || len(key) < 32 {
		return "", fmt.Errorf("seal %s cookie: key ring has no usable current key", purpose)
	}
	aead, err := s.aead(purpose, id, key)
	if err != nil {
		return "", err
	}
	plain := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint64(plain, uint64(expires.Unix()))
	plain = append(plain, payload...)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	out := aead.Seal(nonce, nonce, plain, aad(purpose, id))
	return id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open checks and decrypts a value made by Seal for the same purpose. now
// decides expiry.
func (s *Sealer) Open(purpose, value string, now time.Time) ([]byte, error) {
	if len(value) > MaxCookieBytes {
		return nil, ErrMalformed
	}
	id, body, ok := strings.Cut(value, ".")
	if !ok || !validKeyID(id) || body == "" {
		return nil, ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, ErrMalformed
	}
	key, ok := s.Ring.Key(id)
	if !ok || len(key) < 32 {
		return nil, ErrUnknownKey
	}
	aead, err := s.aead(purpose, id, key)
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize()+aead.Overhead()+8 {
		return nil, ErrMalformed
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad(purpose, id))
	if err != nil {
		return nil, ErrForged
	}
	exp := int64(binary.BigEndian.Uint64(plain[:8]))
	if now.Unix() >= exp {
		return nil, ErrExpired
	}
	return plain[8:], nil
}

func aad(purpose, id string) []byte { return []byte("edgegate-cookie-v1\x00" + purpose + "\x00" + id) }

// newAEAD derives the purpose key from the ring key (HMAC-SHA256 as a PRF)
// so one ring key serves several cookie kinds without reuse across them.
func newAEAD(key []byte, purpose string) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("edgegate cookie key\x00" + purpose))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("cookie cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// EphemeralKeyRing is an in-memory KeyRing with random keys, for a gateway
// without a configured key ring and for tests. Cookies it sealed do not
// survive a restart.
type EphemeralKeyRing struct {
	mu      sync.RWMutex
	current string
	keys    map[string][]byte
	n       int
}

// NewEphemeralKeyRing returns a ring with one fresh key.
func NewEphemeralKeyRing() *EphemeralKeyRing {
	r := &EphemeralKeyRing{keys: make(map[string][]byte)}
	r.Rotate()
	return r
}

// Rotate makes a new current key and keeps the old ones; it returns the
// new key's ID.
func (r *EphemeralKeyRing) Rotate() string {
	var k [32]byte
	var idb [6]byte
	_, _ = rand.Read(k[:])
	_, _ = rand.Read(idb[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	id := fmt.Sprintf("e%d-%s", r.n, base64.RawURLEncoding.EncodeToString(idb[:]))
	r.keys[id] = k[:]
	r.current = id
	return id
}

// Retire forgets a key that is not current: cookies sealed with it no
// longer open.
func (r *EphemeralKeyRing) Retire(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id != r.current {
		delete(r.keys, id)
	}
}

// Current implements KeyRing.
func (r *EphemeralKeyRing) Current() (string, []byte) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current, r.keys[r.current]
}

// Key implements KeyRing.
func (r *EphemeralKeyRing) Key(id string) ([]byte, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.keys[id]
	return k, ok
}
