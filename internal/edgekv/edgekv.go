// Package edgekv serves Akamai's EdgeKV HTTP API from an embedded
// in-memory store, so EdgeWorkers bundles that carry Akamai's EdgeKV
// helper file (edgekv.js, which only makes httpRequest calls to
// https://edgekv.akamai-edge-svcs.net/api/v1/namespaces/{ns}/groups/{group}/items/{item})
// run unchanged: edge scripts' sub-requests to that host are answered
// here instead of leaving the machine (see Intercept).
package edgekv

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/edgegate/edgegate/internal/script"
)

// Host is the EdgeKV API host the helper file calls.
const Host = "edgekv.akamai-edge-svcs.net"

// Auth headers the helper sends: the token itself or a reference to it.
const (
	AuthHeader    = "X-Akamai-Edgedb-Auth"
	AuthRefHeader = "X-Akamai-Edgedb-Auth-Ref"
)

// MaxValue bounds one item's value (EdgeKV's documented item size is
// 250 KB; a PUT above it is refused with 413).
const MaxValue = 250 * 1000

// Errors of the store.
var (
	ErrBadPath   = errors.New("not an EdgeKV item path")
	ErrNamespace = errors.New("namespace does not exist")
	ErrTooLarge  = errors.New("value larger than 250 KB")
)

// Name rules of the helper (and the API): namespace 1-32, group 1-128,
// item 1-512 characters of [A-Za-z0-9_-].
var (
	nsRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	groupRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	itemRe  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,512}$`)
)

// Options configures a Store.
type Options struct {
	// Token is the access token every request must carry in
	// X-Akamai-EdgeDB-Auth. "" accepts any non-empty token (or token
	// reference): the local store cannot check Akamai-signed tokens, but
	// a request without one is still refused, as on Akamai.
	Token string
}

// Store is the embedded EdgeKV data: namespace → group → item → value.
// It is safe for concurrent use.
type Store struct {
	mu    sync.RWMutex
	data  map[string]map[string]map[string][]byte
	token string
}

// New returns an empty store with no namespaces.
func New(o Options) *Store {
	return &Store{data: map[string]map[string]map[string][]byte{}, token: o.Token}
}

// LoadFile seeds the store from a JSON file shaped
// {"namespace": {"group": {"item": value}}}: a string value is stored as
// is, any other JSON value as its compact JSON text (what putJson stores).
// Namespaces only exist when the file declares them (an empty object
// declares an empty namespace).
func (s *Store) LoadFile(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("edgekv data: %w", err)
	}
	if err := s.Load(data); err != nil {
		return fmt.Errorf("edgekv data %s: %w", file, err)
	}
	return nil
}

// Load seeds the store from JSON (see LoadFile).
func (s *Store) Load(data []byte) error {
	var raw map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("want {\"namespace\": {\"group\": {\"item\": value}}}: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ns, groups := range raw {
		if !nsRe.MatchString(ns) {
			return fmt.Errorf("namespace %q: must be 1-32 characters of A-Z a-z 0-9 _ -", ns)
		}
		if s.data[ns] == nil {
			s.data[ns] = map[string]map[string][]byte{}
		}
		for g, items := range groups {
			if !groupRe.MatchString(g) {
				return fmt.Errorf("namespace %s: group %q: must be 1-128 characters of A-Z a-z 0-9 _ -", ns, g)
			}
			if s.data[ns][g] == nil {
				s.data[ns][g] = map[string][]byte{}
			}
			for it, v := range items {
				if !itemRe.MatchString(it) {
					return fmt.Errorf("namespace %s group %s: item %q: must be 1-512 characters of A-Z a-z 0-9 _ -", ns, g, it)
				}
				var str string
				val := []byte(v)
				if json.Unmarshal(v, &str) == nil {
					val = []byte(str)
				} else {
					var buf bytes.Buffer
					if err := json.Compact(&buf, v); err == nil {
						val = buf.Bytes()
					}
				}
				if len(val) > MaxValue {
					return fmt.Errorf("namespace %s group %s item %s: %w", ns, g, it, ErrTooLarge)
				}
				s.data[ns][g][it] = val
			}
		}
	}
	return nil
}

// AddNamespace declares an empty namespace.
func (s *Store) AddNamespace(ns string) error {
	if !nsRe.MatchString(ns) {
		return fmt.Errorf("namespace %q: must be 1-32 characters of A-Z a-z 0-9 _ -", ns)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data[ns] == nil {
		s.data[ns] = map[string]map[string][]byte{}
	}
	return nil
}

// Namespaces lists the namespaces, sorted.
func (s *Store) Namespaces() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.data))
	for ns := range s.data {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// Get returns an item's value (a copy).
func (s *Store) Get(ns, group, item string) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	groups, ok := s.data[ns]
	if !ok {
		return nil, false, fmt.Errorf("%q: %w", ns, ErrNamespace)
	}
	v, ok := groups[group][item]
	return bytes.Clone(v), ok, nil
}

// Put stores a value, creating the group when needed (as EdgeKV does).
func (s *Store) Put(ns, group, item string, value []byte) error {
	if len(value) > MaxValue {
		return ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	groups, ok := s.data[ns]
	if !ok {
		return fmt.Errorf("%q: %w", ns, ErrNamespace)
	}
	if groups[group] == nil {
		groups[group] = map[string][]byte{}
	}
	groups[group][item] = bytes.Clone(value)
	return nil
}

// Delete removes an item; it reports whether the item existed.
func (s *Store) Delete(ns, group, item string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups, ok := s.data[ns]
	if !ok {
		return false, fmt.Errorf("%q: %w", ns, ErrNamespace)
	}
	_, had := groups[group][item]
	delete(groups[group], item)
	return had, nil
}

// ParsePath splits /api/v1/namespaces/{ns}/groups/{group}/items/{item},
// checking the name rules.
func ParsePath(p string) (ns, group, item string, err error) {
	rest, ok := strings.CutPrefix(p, "/api/v1/namespaces/")
	if !ok {
		return "", "", "", ErrBadPath
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 5 || parts[1] != "groups" || parts[3] != "items" {
		return "", "", "", ErrBadPath
	}
	ns, group, item = parts[0], parts[2], parts[4]
	switch {
	case !nsRe.MatchString(ns):
		return "", "", "", fmt.Errorf("%w: namespace %q must be 1-32 characters of A-Z a-z 0-9 _ -", ErrBadPath, ns)
	case !groupRe.MatchString(group):
		return "", "", "", fmt.Errorf("%w: group %q must be 1-128 characters of A-Z a-z 0-9 _ -", ErrBadPath, group)
	case !itemRe.MatchString(item):
		return "", "", "", fmt.Errorf("%w: item %q must be 1-512 characters of A-Z a-z 0-9 _ -", ErrBadPath, item)
	}
	return ns, group, item, nil
}

// apiError is the JSON body of an error answer.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "errorCode": code, "detail": msg})
}

// authorized checks the request's token for ns; the token is never
// echoed back.
func (s *Store) authorized(r *http.Request, ns string) (status int, msg string) {
	tok, ref := r.Header.Get(AuthHeader), r.Header.Get(AuthRefHeader)
	if tok == "" && ref == "" {
		return http.StatusUnauthorized, "missing X-Akamai-EdgeDB-Auth header"
	}
	if s.token == "" {
		return 0, ""
	}
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		return http.StatusForbidden, "the EdgeKV access token is not valid for namespace " + ns
	}
	return 0, ""
}

// ServeHTTP is the EdgeKV item API: GET (200 with the value, 404 when
// missing), PUT (the body becomes the value), DELETE. Sandbox query
// parameters (sandboxId, sandboxFallback) are accepted and ignored: there
// is one local store.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ns, group, item, err := ParsePath(r.URL.EscapedPath())
	if err != nil {
		apiError(w, http.StatusBadRequest, "EKV_BAD_PATH", err.Error())
		return
	}
	if st, msg := s.authorized(r, ns); st != 0 {
		apiError(w, st, "EKV_AUTH", msg)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		v, ok, err := s.Get(ns, group, item)
		switch {
		case err != nil:
			apiError(w, http.StatusBadRequest, "EKV_NAMESPACE", err.Error())
		case !ok:
			apiError(w, http.StatusNotFound, "EKV_NOT_FOUND", "item "+item+" not found in namespace "+ns+", group "+group)
		default:
			// The helper reads a value of 128000 bytes or more (or of unknown
			// length) as a stream, so the length is always given.
			w.Header().Set("Content-Length", strconv.Itoa(len(v)))
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if json.Valid(v) && len(v) > 0 && (v[0] == '{' || v[0] == '[') {
				w.Header().Set("Content-Type", "application/json")
			}
			_, _ = w.Write(v)
		}
	case http.MethodPut, http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxValue+1))
		if err != nil {
			apiError(w, http.StatusBadRequest, "EKV_BODY", "could not read the value")
			return
		}
		if err := s.Put(ns, group, item, body); err != nil {
			st := http.StatusBadRequest
			if errors.Is(err, ErrTooLarge) {
				st = http.StatusRequestEntityTooLarge
			}
			apiError(w, st, "EKV_PUT", err.Error())
			return
		}
		textAnswer(w, fmt.Sprintf("Item was upserted in KV store with namespace %s, group %s, and key %s.", ns, group, item))
	case http.MethodDelete:
		if _, err := s.Delete(ns, group, item); err != nil {
			apiError(w, http.StatusBadRequest, "EKV_NAMESPACE", err.Error())
			return
		}
		textAnswer(w, fmt.Sprintf("Item was marked for deletion from KV store with namespace %s, group %s, and key %s.", ns, group, item))
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		apiError(w, http.StatusMethodNotAllowed, "EKV_METHOD", "method not allowed")
	}
}

func textAnswer(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	_, _ = io.WriteString(w, msg)
}

// Intercept wraps next so that sub-requests to the EdgeKV host are
// answered by the store in process; every other sub-request goes to next
// (nil refuses them).
func (s *Store) Intercept(next script.SubRequester) script.SubRequester {
	return &interceptor{s: s, next: next}
}

type interceptor struct {
	s    *Store
	next script.SubRequester
}

func (i *interceptor) Do(ctx context.Context, sr *script.SubRequest) (*script.SubResponse, error) {
	u, err := url.Parse(sr.URL)
	if err != nil || !strings.EqualFold(u.Hostname(), Host) {
		if i.next == nil {
			return nil, errors.New("sub-requests are not available here")
		}
		return i.next.Do(ctx, sr)
	}
	req, err := http.NewRequestWithContext(ctx, sr.Method, sr.URL, bytes.NewReader(sr.Body))
	if err != nil {
		return nil, fmt.Errorf("edgekv: %w", err)
	}
	req.Header = sr.Header
	rec := &recorder{header: http.Header{}}
	i.s.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &script.SubResponse{Status: rec.status, Header: rec.header, Body: rec.buf.Bytes()}, nil
}

type recorder struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.buf.Write(p)
}
