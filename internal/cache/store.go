package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/maypok86/otter/v2"
)

// Hooks receive the store's events, for metrics. Every field may be nil.
type Hooks struct {
	// Evicted is called when an entry leaves a tier to make room.
	Evicted func(tier string)
	// Bytes reports a tier's current size.
	Bytes func(tier string, n int64)
	// DiskError is called on a failed disk-tier read or write.
	DiskError func()
}

// StoreOptions configures a Store.
type StoreOptions struct {
	// MaxBytes bounds the memory tier (required, > 0).
	MaxBytes int64
	// DiskPath, when not empty, adds a disk tier bounded by DiskMaxBytes.
	DiskPath     string
	DiskMaxBytes int64
	Logger       *slog.Logger
	Hooks        Hooks
}

// Store holds cached entries in a memory tier (otter, bounded in bytes) and
// an optional disk tier, with indexes by URL and tag for purges. It is safe
// for concurrent use and outlives configuration reloads.
type Store struct {
	mem   *otter.Cache[string, *entry]
	disk  *diskTier
	log   *slog.Logger
	hooks Hooks

	mu    sync.Mutex
	keys  map[string]*indexRec
	byURL map[string]map[string]struct{}
	byTag map[string]map[string]struct{}
}

type indexRec struct {
	urls, tags []string
	tiers      uint8
}

const (
	tierMem  uint8 = 1
	tierDisk uint8 = 2
)

// NewStore opens the tiers. A disk tier that cannot be opened is an error
// here (at startup); later disk failures only degrade to memory.
func NewStore(o StoreOptions) (*Store, error) {
	if o.MaxBytes <= 0 {
		return nil, errors.New("cache: memory tier size must be greater than 0")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log, hooks: o.Hooks, keys: map[string]*indexRec{}, byURL: map[string]map[string]struct{}{}, byTag: map[string]map[string]struct{}{}}
	mem, err := otter.New(&otter.Options[string, *entry]{
		MaximumWeight: uint64(o.MaxBytes),
		Weigher: func(_ string, e *entry) uint32 {
			return uint32(min(e.size(), math.MaxUint32))
		},
		OnDeletion: func(e otter.DeletionEvent[string, *entry]) {
			if e.Cause == otter.CauseReplacement {
				return
			}
			if e.WasEvicted() && s.hooks.Evicted != nil {
				s.hooks.Evicted("memory")
			}
			s.unindex(e.Key, tierMem)
		},
		// Deletions are indexed in line, so a purge right after an eviction
		// sees a consistent index.
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, fmt.Errorf("cache: memory tier: %w", err)
	}
	s.mem = mem
	if o.DiskPath != "" {
		d, err := openDisk(o.DiskPath, o.DiskMaxBytes, s)
		if err != nil {
			return nil, err
		}
		s.disk = d
	}
	return s, nil
}

// Close flushes and stops the disk tier.
func (s *Store) Close() {
	if s.disk != nil {
		s.disk.close()
	}
	s.mem.StopAllGoroutines()
}

func (s *Store) reportBytes() {
	if s.hooks.Bytes != nil {
		s.hooks.Bytes("memory", int64(s.mem.WeightedSize()))
	}
}

// get returns the entry at key from memory, else from disk (promoting it).
func (s *Store) get(key string) *entry {
	if e, ok := s.mem.GetIfPresent(key); ok {
		return e
	}
	if s.disk == nil {
		return nil
	}
	e := s.disk.get(key)
	if e == nil {
		return nil
	}
	s.mem.Set(key, e)
	s.index(e, tierMem)
	s.reportBytes()
	return e
}

// put stores e in memory and, in the background, on disk.
func (s *Store) put(e *entry) {
	s.mem.Set(e.Key, e)
	s.index(e, tierMem)
	s.reportBytes()
	if s.disk != nil {
		s.disk.put(e)
	}
}

// delete removes key from every tier.
func (s *Store) delete(key string) {
	s.mem.Invalidate(key)
	if s.disk != nil {
		s.disk.remove(key)
	}
	s.mu.Lock()
	s.dropLocked(key)
	s.mu.Unlock()
	s.reportBytes()
}

func (s *Store) index(e *entry, tier uint8) {
	urls, tags := e.urls(), e.tags()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.keys[e.Key]
	if rec == nil {
		rec = &indexRec{}
		s.keys[e.Key] = rec
	}
	rec.tiers |= tier
	for _, u := range urls {
		if !contains(rec.urls, u) {
			rec.urls = append(rec.urls, u)
			addTo(s.byURL, u, e.Key)
		}
	}
	for _, t := range tags {
		if !contains(rec.tags, t) {
			rec.tags = append(rec.tags, t)
			addTo(s.byTag, t, e.Key)
		}
	}
}

func (s *Store) unindex(key string, tier uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.keys[key]
	if rec == nil {
		return
	}
	rec.tiers &^= tier
	if rec.tiers == 0 {
		s.dropLocked(key)
	}
}

func (s *Store) dropLocked(key string) {
	rec := s.keys[key]
	if rec == nil {
		return
	}
	for _, u := range rec.urls {
		removeFrom(s.byURL, u, key)
	}
	for _, t := range rec.tags {
		removeFrom(s.byTag, t, key)
	}
	delete(s.keys, key)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func addTo(m map[string]map[string]struct{}, k, key string) {
	set := m[k]
	if set == nil {
		set = map[string]struct{}{}
		m[k] = set
	}
	set[key] = struct{}{}
}

func removeFrom(m map[string]map[string]struct{}, k, key string) {
	if set := m[k]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// Len is the number of keys held in any tier.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// PurgeMode says what a purge does to matching objects.
type PurgeMode string

const (
	// PurgeInvalidate marks objects stale: they are validated with the
	// origin before reuse (and can still serve stale-if-error).
	PurgeInvalidate PurgeMode = "invalidate"
	// PurgeDelete removes them.
	PurgeDelete PurgeMode = "delete"
)

// PurgeRequest selects objects by exact URL, URL prefix or tag.
type PurgeRequest struct {
	URLs     []string  `json:"urls,omitempty"`
	Prefixes []string  `json:"prefixes,omitempty"`
	Tags     []string  `json:"tags,omitempty"`
	Mode     PurgeMode `json:"mode,omitempty"`
}

// PurgeResult counts what a purge matched.
type PurgeResult struct {
	Keys int `json:"keys"`
}

// Purger carries out purges. The local Store is one; a fan-out to other
// nodes (a later Redis publisher) wraps it behind the same interface.
type Purger interface {
	Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error)
}

// ErrBadPurge marks an invalid purge request.
var ErrBadPurge = errors.New("invalid purge request")

// NormalizePurgeURL turns an absolute http(s) URL into the form objects are
// indexed by: lower-case host without port, decoded path.
func NormalizePurgeURL(raw string) (string, error) {
	u, err := parseAbsolute(raw)
	if err != nil {
		return "", err
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	return URLOf(u.Scheme, strings.ToLower(u.Hostname()), p, u.RawQuery), nil
}

// Check reports whether req is a valid purge (an error wrapping
// ErrBadPurge when not), so a caller can refuse it before anything else
// happens, such as auditing it.
func (req PurgeRequest) Check() error {
	if req.Mode != "" && req.Mode != PurgeInvalidate && req.Mode != PurgeDelete {
		return fmt.Errorf("%w: mode %q (allowed: invalidate, delete)", ErrBadPurge, req.Mode)
	}
	if len(req.URLs)+len(req.Prefixes)+len(req.Tags) == 0 {
		return fmt.Errorf("%w: give urls, prefixes or tags", ErrBadPurge)
	}
	for _, u := range append(slices.Clip(req.URLs), req.Prefixes...) {
		if _, err := NormalizePurgeURL(u); err != nil {
			return err
		}
	}
	return nil
}

// Purge applies req to this node's tiers.
func (s *Store) Purge(_ context.Context, req PurgeRequest) (PurgeResult, error) {
	if err := req.Check(); err != nil {
		return PurgeResult{}, err
	}
	mode := req.Mode
	if mode == "" {
		mode = PurgeInvalidate
	}
	urls := make([]string, 0, len(req.URLs))
	for _, u := range req.URLs {
		n, err := NormalizePurgeURL(u)
		if err != nil {
			return PurgeResult{}, err
		}
		urls = append(urls, n)
	}
	prefixes := make([]string, 0, len(req.Prefixes))
	for _, p := range req.Prefixes {
		n, err := NormalizePurgeURL(p)
		if err != nil {
			return PurgeResult{}, err
		}
		if !strings.HasSuffix(p, "/") {
			n = strings.TrimSuffix(n, "/")
		}
		prefixes = append(prefixes, n)
	}
	keys := s.match(urls, prefixes, req.Tags)
	for _, k := range keys {
		if mode == PurgeDelete {
			s.delete(k)
		} else {
			s.invalidate(k)
		}
	}
	return PurgeResult{Keys: len(keys)}, nil
}

func (s *Store) match(urls, prefixes, tags []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]struct{}{}
	var out []string
	add := func(set map[string]struct{}) {
		for k := range set {
			if _, ok := seen[k]; !ok {
				seen[k] = struct{}{}
				out = append(out, k)
			}
		}
	}
	for _, u := range urls {
		add(s.byURL[u])
	}
	for _, t := range tags {
		add(s.byTag[t])
	}
	if len(prefixes) > 0 {
		for u, set := range s.byURL {
			for _, p := range prefixes {
				if strings.HasPrefix(u, p) {
					add(set)
					break
				}
			}
		}
	}
	return out
}

// invalidate marks every variant at key as needing validation.
func (s *Store) invalidate(key string) {
	e := s.get(key)
	if e == nil {
		return
	}
	out := &entry{Key: key, Objects: make([]*Object, len(e.Objects))}
	for i, o := range e.Objects {
		c := *o
		c.Invalid = true
		out.Objects[i] = &c
	}
	s.put(out)
}

// invalidateURLs deletes what is stored for these URLs (after an unsafe
// method, RFC 9111 §4.4).
func (s *Store) invalidateURLs(urls ...string) {
	for _, k := range s.match(urls, nil, nil) {
		s.delete(k)
	}
}
