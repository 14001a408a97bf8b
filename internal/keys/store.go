package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The keystore file is versioned JSON:
//
//	{"version": 1, "salt": b64, "check": b64, "keys": [entry...], "mac": b64}
//
// The key-encryption key (KEK) is HKDF-SHA256(master key, salt, "edgegate
// keystore v1 kek"); the MAC key is HKDF(master key, salt, "edgegate
// keystore v1 mac"). check is the AES-256-GCM seal of a fixed text under the
// KEK, so a wrong master key is told apart from a damaged file. Each
// entry's private key (PKCS#8 DER, or 32 raw bytes for a symmetric key) is
// sealed with AES-256-GCM under the KEK with the entry's kid, purpose, alg
// and creation time as additional data, so sealed blobs cannot be swapped
// between entries. mac is HMAC-SHA256 over the compacted "keys" array, so
// the schedule (signs_until, retire_at) cannot be edited without the
// master key either.
const (
	storeVersion = 1
	kekInfo      = "edgegate keystore v1 kek"
	macInfo      = "edgegate keystore v1 mac"
	checkText    = "edgegate keystore v1 check"
	// MinMasterKeyBytes is the shortest master key accepted that is not a
	// base64 encoding of 32 bytes.
	MinMasterKeyBytes = 32
	// maxStoreBytes bounds the keystore file read: far above any real
	// keystore (a key entry is about 400 bytes).
	maxStoreBytes = 4 << 20
)

// ErrMasterKey is wrapped by errors about a missing, malformed or wrong
// master key.
var ErrMasterKey = errors.New("master key")

// ErrCorrupt is wrapped by errors about a keystore file that cannot be
// read back (damaged, truncated, edited, or of an unknown version).
var ErrCorrupt = errors.New("keystore corrupted")

// MasterKey is the secret that seals the keystore, with a description of
// where it came from for error messages (never the key itself).
type MasterKey struct {
	secret []byte
	// Source says where the key was read, such as "environment variable
	// EDGEGATE_MASTER_KEY" or "file /etc/edgegate/master.key".
	Source string
}

// String hides the secret, should a MasterKey ever reach a log.
func (m MasterKey) String() string { return "master key from " + m.Source }

// ParseMasterKey accepts a master key text: the base64 encoding (standard
// or URL alphabet, padded or not) of exactly 32 bytes, used as is; or any
// other text of at least MinMasterKeyBytes bytes, used as HKDF input.
// Surrounding white space (a trailing newline in a file) is ignored.
func ParseMasterKey(text []byte, source string) (MasterKey, error) {
	t := bytes.TrimSpace(text)
	if len(t) == 0 {
		return MasterKey{}, fmt.Errorf("%w from %s is empty", ErrMasterKey, source)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(string(t)); err == nil && len(b) == 32 {
			return MasterKey{secret: b, Source: source}, nil
		}
	}
	if len(t) < MinMasterKeyBytes {
		return MasterKey{}, fmt.Errorf("%w from %s is too short: give the base64 of 32 random bytes (openssl rand -base64 32) or at least %d characters", ErrMasterKey, source, MinMasterKeyBytes)
	}
	return MasterKey{secret: bytes.Clone(t), Source: source}, nil
}

// LoadMasterKey reads the master key from the file when file is not
// empty, otherwise from the environment variable env (getenv is os.Getenv
// outside tests). Errors say where it looked.
func LoadMasterKey(env, file string, getenv func(string) string) (MasterKey, error) {
	if file != "" {
		src := "file " + file
		fi, err := os.Stat(file)
		if err != nil {
			return MasterKey{}, fmt.Errorf("%w: cannot read %s: %w", ErrMasterKey, src, err)
		}
		if !fi.Mode().IsRegular() || fi.Size() > 4096 {
			return MasterKey{}, fmt.Errorf("%w: %s is not a small regular file", ErrMasterKey, src)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return MasterKey{}, fmt.Errorf("%w: cannot read %s: %w", ErrMasterKey, src, err)
		}
		return ParseMasterKey(b, src)
	}
	src := "environment variable " + env
	v := getenv(env)
	if v == "" {
		return MasterKey{}, fmt.Errorf("%w: %s is not set", ErrMasterKey, src)
	}
	return ParseMasterKey([]byte(v), src)
}

// storeFile is the JSON shape of the keystore.
type storeFile struct {
	Version int             `json:"version"`
	Salt    []byte          `json:"salt"`
	Check   []byte          `json:"check"`
	Keys    json.RawMessage `json:"keys"`
	MAC     []byte          `json:"mac"`
}

// entry is one key as stored.
type entry struct {
	ID         string    `json:"kid"`
	Purpose    string    `json:"purpose"`
	Alg        Algorithm `json:"alg"`
	Created    time.Time `json:"created"`
	NotBefore  time.Time `json:"not_before"`
	SignsFrom  time.Time `json:"signs_from"`
	SignsUntil time.Time `json:"signs_until"`
	RetireAt   time.Time `json:"retire_at"`
	Reason     string    `json:"reason,omitempty"`
	Sealed     []byte    `json:"sealed"`
}

// sealer holds the keys derived from the master key for one keystore salt.
type sealer struct {
	aead   cipher.AEAD
	macKey []byte
	salt   []byte
}

func newSealer(mk MasterKey, salt []byte) (*sealer, error) {
	kek, err := hkdf.Key(sha256.New, mk.secret, salt, kekInfo, 32)
	if err != nil {
		return nil, err
	}
	mac, err := hkdf.Key(sha256.New, mk.secret, salt, macInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, macKey: mac, salt: salt}, nil
}

func (s *sealer) seal(plain, ad []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, ad)
}

func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed data too short")
	}
	return s.aead.Open(nil, sealed[:n], sealed[n:], ad)
}

func (s *sealer) mac(keysJSON []byte) []byte {
	h := hmac.New(sha256.New, s.macKey)
	h.Write(keysJSON)
	return h.Sum(nil)
}

func entryAD(e *entry) []byte {
	return []byte("edgegate key v1\x00" + e.ID + "\x00" + e.Purpose + "\x00" + string(e.Alg) + "\x00" + e.Created.UTC().Format(time.RFC3339Nano))
}

// encodeStore seals keys into the file format.
func encodeStore(s *sealer, keys []*Key) ([]byte, error) {
	entries := make([]entry, 0, len(keys))
	for _, k := range keys {
		plain, err := k.marshalSecret()
		if err != nil {
			return nil, fmt.Errorf("encode key %s: %w", k.ID, err)
		}
		e := entry{ID: k.ID, Purpose: k.Purpose, Alg: k.Alg, Created: k.Created.UTC(), NotBefore: k.NotBefore.UTC(),
			SignsFrom: k.SignsFrom.UTC(), SignsUntil: k.SignsUntil.UTC(), RetireAt: k.RetireAt.UTC(), Reason: k.Reason}
		e.Sealed = s.seal(plain, entryAD(&e))
		entries = append(entries, e)
	}
	kj, err := json.Marshal(entries)
	if err != nil {
		return nil, err
	}
	f := storeFile{Version: storeVersion, Salt: s.salt, Check: s.seal([]byte(checkText), []byte("check")), Keys: kj, MAC: s.mac(kj)}
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// decodeStore opens a keystore file's contents. path is for messages.
func decodeStore(path string, data []byte, mk MasterKey) (*sealer, []*Key, error) {
	var f storeFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("%w: %s is not a keystore file: %w", ErrCorrupt, path, err)
	}
	if f.Version != storeVersion {
		return nil, nil, fmt.Errorf("%w: %s has version %d; this edgegate reads version %d", ErrCorrupt, path, f.Version, storeVersion)
	}
	if len(f.Salt) < 16 || len(f.Check) == 0 || len(f.Keys) == 0 || len(f.MAC) == 0 {
		return nil, nil, fmt.Errorf("%w: %s lacks salt, check, keys or mac", ErrCorrupt, path)
	}
	s, err := newSealer(mk, f.Salt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: derive keys: %w", ErrCorrupt, err)
	}
	if plain, err := s.open(f.Check, []byte("check")); err != nil || string(plain) != checkText {
		return nil, nil, fmt.Errorf("%w: the %s does not open %s (wrong key, or the file was sealed with another one)", ErrMasterKey, mk, path)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, f.Keys); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: keys: %w", ErrCorrupt, path, err)
	}
	if !hmac.Equal(s.mac(compact.Bytes()), f.MAC) {
		return nil, nil, fmt.Errorf("%w: %s: the key list does not match its MAC (edited or damaged)", ErrCorrupt, path)
	}
	var entries []entry
	if err := json.Unmarshal(compact.Bytes(), &entries); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: keys: %w", ErrCorrupt, path, err)
	}
	keys := make([]*Key, 0, len(entries))
	seen := make(map[string]bool)
	for i := range entries {
		e := &entries[i]
		if e.ID == "" || seen[e.ID] {
			return nil, nil, fmt.Errorf("%w: %s: key %d has an empty or duplicate kid", ErrCorrupt, path, i)
		}
		seen[e.ID] = true
		plain, err := s.open(e.Sealed, entryAD(e))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: key %s does not open: %w", ErrCorrupt, path, e.ID, err)
		}
		k := &Key{ID: e.ID, Purpose: e.Purpose, Alg: e.Alg, Created: e.Created, NotBefore: e.NotBefore,
			SignsFrom: e.SignsFrom, SignsUntil: e.SignsUntil, RetireAt: e.RetireAt, Reason: e.Reason}
		if err := k.unmarshalSecret(plain); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: key %s: %w", ErrCorrupt, path, e.ID, err)
		}
		keys = append(keys, k)
	}
	return s, keys, nil
}

func (k *Key) marshalSecret() ([]byte, error) {
	switch {
	case k.sym != nil:
		return bytes.Clone(k.sym), nil
	case k.priv != nil:
		return x509.MarshalPKCS8PrivateKey(k.priv)
	}
	return nil, errors.New("no key material")
}

func (k *Key) unmarshalSecret(plain []byte) error {
	switch k.Alg {
	case AlgSymmetric:
		if len(plain) != SymmetricKeyBytes {
			return fmt.Errorf("symmetric key is %d bytes, want %d", len(plain), SymmetricKeyBytes)
		}
		k.sym = plain
		return nil
	case ES256, EdDSA:
		p, err := x509.ParsePKCS8PrivateKey(plain)
		if err != nil {
			return err
		}
		switch p := p.(type) {
		case *ecdsa.PrivateKey:
			if k.Alg != ES256 {
				return fmt.Errorf("an ECDSA key stored as %s", k.Alg)
			}
			k.priv = p
		case ed25519.PrivateKey:
			if k.Alg != EdDSA {
				return fmt.Errorf("an Ed25519 key stored as %s", k.Alg)
			}
			k.priv = p
		default:
			return fmt.Errorf("unsupported key type %T", p)
		}
		return k.prepare()
	}
	return fmt.Errorf("unknown algorithm %q", k.Alg)
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, fsynced, renamed over path, and the directory fsynced, so a
// crash leaves either the old file or the new one, never half of one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// readStore reads the keystore file; exists is false when it is not there.
func readStore(path string) (data []byte, exists bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("keystore %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, true, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, path)
	}
	if fi.Size() > maxStoreBytes {
		return nil, true, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, path, maxStoreBytes)
	}
	data, err = os.ReadFile(path)
	if err != nil {
		return nil, true, fmt.Errorf("keystore %s: %w", path, err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, true, fmt.Errorf("%w: %s is empty (refusing to write new keys over it; move it away if it should be recreated)", ErrCorrupt, path)
	}
	return data, true, nil
}
