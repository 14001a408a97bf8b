package session

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultMaxSessions bounds a MemoryStore made with max <= 0.
const DefaultMaxSessions = 100_000

// MemoryStore keeps sessions in this process. It is bounded: when full, the
// session closest to its expiry is dropped to make room (its user logs in
// again). Expired sessions are dropped lazily, so no goroutine is needed.
type MemoryStore struct {
	mu  sync.Mutex
	max int
	m   map[string]*entry
	h   expiryHeap
	now func() time.Time
}

type entry struct {
	s       *Session
	expires time.Time
	index   int
}

// NewMemoryStore returns a store holding at most max sessions
// (DefaultMaxSessions when max <= 0). now may be nil (time.Now).
func NewMemoryStore(max int, now func() time.Time) *MemoryStore {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{max: max, m: make(map[string]*entry), now: now}
}

// Get implements Store.
func (ms *MemoryStore) Get(_ context.Context, id string) (*Session, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	e, ok := ms.m[id]
	if !ok {
		return nil, ErrNotFound
	}
	if !ms.now().Before(e.expires) {
		ms.remove(e)
		return nil, ErrNotFound
	}
	return e.s.Clone(), nil
}

// Put implements Store.
func (ms *MemoryStore) Put(_ context.Context, s *Session, expires time.Time) error {
	if s == nil || s.ID == "" {
		return fmt.Errorf("put session: empty session ID")
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if e, ok := ms.m[s.ID]; ok {
		e.s, e.expires = s.Clone(), expires
		heap.Fix(&ms.h, e.index)
		return nil
	}
	now := ms.now()
	for len(ms.h) > 0 && (len(ms.h) >= ms.max || !now.Before(ms.h[0].expires)) {
		ms.remove(ms.h[0])
	}
	e := &entry{s: s.Clone(), expires: expires}
	ms.m[s.ID] = e
	heap.Push(&ms.h, e)
	return nil
}

// Delete implements Store.
func (ms *MemoryStore) Delete(_ context.Context, id string) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if e, ok := ms.m[id]; ok {
		ms.remove(e)
	}
	return nil
}

// Touch implements Store.
func (ms *MemoryStore) Touch(_ context.Context, id string, now, expires time.Time) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	e, ok := ms.m[id]
	if !ok || !ms.now().Before(e.expires) {
		if ok {
			ms.remove(e)
		}
		return ErrNotFound
	}
	c := e.s.Clone()
	c.LastSeen = now
	e.s, e.expires = c, expires
	heap.Fix(&ms.h, e.index)
	return nil
}

// Len reports how many sessions are held (expired ones included until
// they are dropped).
func (ms *MemoryStore) Len() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return len(ms.m)
}

func (ms *MemoryStore) remove(e *entry) {
	heap.Remove(&ms.h, e.index)
	delete(ms.m, e.s.ID)
}

// expiryHeap orders entries soonest expiry first.
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
