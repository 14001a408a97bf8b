package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	ring := NewEphemeralKeyRing()
	s := &Sealer{Ring: ring}
	now := time.Now()
	v, err := s.Seal("session", []byte("id-1"), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "id-1") || len(v) > 120 {
		t.Fatalf("sealed value %q leaks the payload or is not small", v)
	}
	got, err := s.Open("session", v, now)
	if err != nil || string(got) != "id-1" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tamper := []byte(v)
	tamper[len(tamper)-3] ^= 1
	cases := []struct {
		name, purpose, value string
		at                   time.Time
		want                 error
	}{
		{"other purpose", "login-state", v, now, ErrForged},
		{"tampered", "session", string(tamper), now, ErrForged},
		{"expired", "session", v, now.Add(2 * time.Hour), ErrExpired},
		{"no dot", "session", "abc", now, ErrMalformed},
		{"bad key id", "session", "a/b.AAAA", now, ErrMalformed},
		{"bad base64", "session", strings.SplitN(v, ".", 2)[0] + ".***", now, ErrMalformed},
		{"short", "session", strings.SplitN(v, ".", 2)[0] + ".AAAA", now, ErrMalformed},
		{"unknown key", "session", "nokey." + strings.SplitN(v, ".", 2)[1], now, ErrUnknownKey},
		{"huge", "session", strings.Repeat("A", MaxCookieBytes+1), now, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Open(c.purpose, c.value, c.at)
			if !errors.Is(err, c.want) || !errors.Is(err, ErrBadCookie) {
				t.Fatalf("Open: %v, want %v", err, c.want)
			}
		})
	}
}

// TestRotation: cookies sealed under an old key open while the ring keeps
// it, and stop opening once it is retired.
func TestRotation(t *testing.T) {
	ring := NewEphemeralKeyRing()
	s := &Sealer{Ring: ring}
	now := time.Now()
	old, _ := ring.Current()
	v1, _ := s.Seal("session", []byte("one"), now.Add(time.Hour))
	newID := ring.Rotate()
	v2, _ := s.Seal("session", []byte("two"), now.Add(time.Hour))
	if !strings.HasPrefix(v2, newID+".") || strings.HasPrefix(v1, newID+".") {
		t.Fatalf("key IDs not used: %q %q", v1, v2)
	}
	if got, err := s.Open("session", v1, now); err != nil || string(got) != "one" {
		t.Fatalf("old cookie after rotation: %q %v", got, err)
	}
	ring.Retire(old)
	if _, err := s.Open("session", v1, now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old cookie after retiring its key: %v", err)
	}
	if _, err := s.Open("session", v2, now); err != nil {
		t.Fatalf("current cookie: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	ring := NewEphemeralKeyRing()
	s := &Sealer{Ring: ring}
	now := time.Unix(1_800_000_000, 0)
	v, _ := s.Seal("session", []byte("seed"), now.Add(time.Hour))
	for _, seed := range []string{v, "", ".", "a.b", v + "A", strings.ToUpper(v)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.Open("session", in, now)
		if err == nil && in != v {
			// Only a value sealed under our key can open; the fuzzer cannot
			// forge GCM, so anything else opening is a bug.
			t.Fatalf("forged value %q opened to %q", in, got)
		}
		if err != nil && !errors.Is(err, ErrBadCookie) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func TestMemoryStore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ms := NewMemoryStore(3, clock)
	ctx := context.Background()
	put := func(id string, ttl time.Duration) {
		if err := ms.Put(ctx, &Session{ID: id, RefreshToken: "rt-" + id}, clock().Add(ttl)); err != nil {
			t.Fatal(err)
		}
	}
	put("a", time.Minute)
	put("b", 3*time.Minute)
	put("c", 2*time.Minute)
	got, err := ms.Get(ctx, "a")
	if err != nil || got.RefreshToken != "rt-a" {
		t.Fatalf("Get a: %v", err)
	}
	got.RefreshToken = "changed"
	if again, _ := ms.Get(ctx, "a"); again.RefreshToken != "rt-a" {
		t.Fatal("Get returned shared state")
	}
	// Full: the session closest to expiry ("a") makes room.
	put("d", 5*time.Minute)
	if _, err := ms.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a should have been evicted: %v", err)
	}
	if ms.Len() != 3 {
		t.Fatalf("Len %d, want 3", ms.Len())
	}
	// Touch extends; expiry drops.
	if err := ms.Touch(ctx, "c", clock(), clock().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	advance(4 * time.Minute)
	if _, err := ms.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("b should have expired: %v", err)
	}
	if s, err := ms.Get(ctx, "c"); err != nil || !s.LastSeen.Equal(clock().Add(-4*time.Minute)) {
		t.Fatalf("touched c: %v %v", s, err)
	}
	if err := ms.Touch(ctx, "zzz", clock(), clock()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Touch of a missing session: %v", err)
	}
	_ = ms.Delete(ctx, "c")
	_ = ms.Delete(ctx, "c")
	if _, err := ms.Get(ctx, "c"); !errors.Is(err, ErrNotFound) {
		t.Fatal("deleted session still there")
	}
	if err := ms.Put(ctx, &Session{}, clock()); err == nil {
		t.Fatal("empty ID accepted")
	}
}

func TestMemoryStoreConcurrent(t *testing.T) {
	ms := NewMemoryStore(50, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := NewID()
				exp := time.Now().Add(time.Duration(g*i) * time.Millisecond)
				_ = ms.Put(ctx, &Session{ID: id}, exp)
				_, _ = ms.Get(ctx, id)
				_ = ms.Touch(ctx, id, time.Now(), exp.Add(time.Second))
				if i%3 == 0 {
					_ = ms.Delete(ctx, id)
				}
			}
		}()
	}
	wg.Wait()
	if n := ms.Len(); n > 50 {
		t.Fatalf("store holds %d sessions, bound is 50", n)
	}
}

func BenchmarkOpen(b *testing.B) {
	s := &Sealer{Ring: NewEphemeralKeyRing()}
	now := time.Now()
	v, _ := s.Seal("session", []byte(NewID()), now.Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open("session", v, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryStoreGet(b *testing.B) {
	ms := NewMemoryStore(0, nil)
	id := NewID()
	_ = ms.Put(context.Background(), &Session{ID: id}, time.Now().Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ms.Get(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}
