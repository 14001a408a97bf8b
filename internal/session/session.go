// Package session keeps browser sessions on the server and names them in a
// small sealed cookie. The cookie holds only a random session ID, encrypted
// and authenticated under a rotating key ring; the tokens of the provider
// (ID, access, refresh) stay in the Store and never reach the browser.
//
// Store is the seam for shared stores (a later issue adds Redis); the
// MemoryStore here is bounded and expires sessions on its own.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"
)

// ErrNotFound is returned by Store.Get for an unknown or expired session.
var ErrNotFound = errors.New("session not found")

// Session is what the gateway remembers about one browser login. It is
// plain data so any store can serialise it.
type Session struct {
	// ID is the random session identifier the cookie names.
	ID string `json:"id"`
	// Issuer is the configured name of the identity issuer that logged the
	// user in.
	Issuer string `json:"issuer"`
	// Claims are the verified ID token claims merged with userinfo.
	Claims map[string]any `json:"claims"`
	// IDToken, AccessToken and RefreshToken are the provider's tokens:
	// server-side only, never rendered, logged or put in a cookie.
	IDToken      string `json:"id_token,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// TokenExpiry is when the access (or ID) token expires; a refresh is
	// due before it.
	TokenExpiry time.Time `json:"token_expiry"`
	// Created is when the user logged in; Absolute is Created plus the
	// absolute timeout, after which the session ends whatever happens.
	Created  time.Time `json:"created"`
	Absolute time.Time `json:"absolute"`
	// LastSeen is the last request on the session; the session ends after
	// the idle timeout without one.
	LastSeen time.Time `json:"last_seen"`
	// Refreshed counts successful token refreshes.
	Refreshed int `json:"refreshed,omitempty"`
}

// Expiry is when the session ends if it sees no further request.
func (s *Session) Expiry(idle time.Duration) time.Time {
	e := s.LastSeen.Add(idle)
	if s.Absolute.Before(e) {
		return s.Absolute
	}
	return e
}

// Clone returns a copy that shares no mutable slice or map with s, except
// Claims, which is treated as read-only everywhere.
func (s *Session) Clone() *Session {
	c := *s
	return &c
}

// Store keeps sessions. Implementations must be safe for concurrent use,
// must return ErrNotFound (possibly wrapped) for missing or expired
// sessions, and must never log token fields.
type Store interface {
	// Get returns a copy of the session.
	Get(ctx context.Context, id string) (*Session, error)
	// Put creates or replaces a session; it expires at expires.
	Put(ctx context.Context, s *Session, expires time.Time) error
	// Delete removes a session; deleting a missing one is not an error.
	Delete(ctx context.Context, id string) error
	// Touch records activity: LastSeen becomes now and the expiry expires.
	Touch(ctx context.Context, id string, now, expires time.Time) error
}

// NewID returns a new random session ID (256 bits, base64url).
func NewID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
