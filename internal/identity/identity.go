// Package identity is the verified caller of one request: the single typed
// value that authentication produces and that policy, the identity
// assertion, scripts and the audit trail read. Nothing in it comes from a
// client-sent header: hygiene has already removed those.
package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Method says how the caller was authenticated.
type Method string

const (
	// MethodAnonymous is a request on a public route, or one that carried no credentials.
	MethodAnonymous Method = "anonymous"
	// MethodBearer is an Authorization: Bearer token (an API caller).
	MethodBearer Method = "bearer"
	// MethodSession is a browser session established by the OIDC login flow.
	MethodSession Method = "session"
)

// Identity is a verified caller. The zero value is anonymous.
type Identity struct {
	Method Method
	// Issuer is the token issuer (iss) and IssuerName the configured name of
	// the trusted issuer that verified it.
	Issuer     string
	IssuerName string
	Subject    string
	Email      string
	Name       string
	// Groups, Roles and Scopes come from the issuer's claims through the
	// issuer's claim mapping (presets for Entra ID, Okta, Google, Keycloak).
	Groups []string
	Roles  []string
	Scopes []string
	// ClientID is the OAuth client the token was issued to (azp or client_id).
	ClientID string
	// Service is true for machine callers (client-credentials tokens), and
	// ServiceName the configured service identity they matched, if any.
	Service     bool
	ServiceName string
	// Expiry is when the token or session stops being valid.
	Expiry time.Time
	// Claims holds every verified claim, for policy rules (identity.claims).
	// Treat as read-only.
	Claims map[string]any
	// Fingerprint identifies the credential in logs and audit records
	// without revealing it (see Fingerprint).
	Fingerprint string
}

// Authenticated reports whether the caller proved an identity.
func (id *Identity) Authenticated() bool {
	return id != nil && id.Method != "" && id.Method != MethodAnonymous
}

// Anonymous is the identity of an unauthenticated request. It is shared by
// every such request, so it is read-only: a stage that needs to change an
// identity (policy deriving roles, for one) works on its own copy.
var Anonymous = Identity{Method: MethodAnonymous}

// Fingerprint returns a short, stable, non-reversible name for a secret
// (token, session ID, cookie): the first 12 bytes of its SHA-256, in hex. It
// is what logs and audit records carry instead of the secret.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return FingerprintOfSum(&sum)
}

// FingerprintOfSum is Fingerprint for a caller that already holds the
// secret's SHA-256 (the verified-token cache key), so a token is hashed
// once.
func FingerprintOfSum(sum *[sha256.Size]byte) string {
	return hex.EncodeToString(sum[:12])
}
