// Package login is the gateway's OpenID Connect relying party for browsers:
// the authorization code flow with PKCE (S256), state and nonce bound to a
// short-lived sealed cookie, strict ID token verification against the
// provider's JWKS, server-side sessions with refresh, idle and absolute
// timeouts, local and RP-initiated logout, and the whoami page.
//
// It never puts a provider token in a cookie, a page, a URL it builds for
// the browser (except id_token_hint toward the provider's own end-session
// endpoint), a log line or an error.
package login

import (
	"errors"
	"fmt"
)

// Reason is a typed failure reason, recorded in audit events and metrics.
type Reason string

// Failure reasons.
const (
	ReasonMissing          Reason = "missing"          // no session cookie
	ReasonMalformed        Reason = "malformed"        // unreadable cookie, parameter or token
	ReasonBadCookie        Reason = "bad_cookie"       // cookie forged or sealed with a retired key
	ReasonSessionExpired   Reason = "session_expired"  // unknown session, absolute timeout or token gone
	ReasonIdleTimeout      Reason = "idle_timeout"     // no request within the idle timeout
	ReasonBadState         Reason = "bad_state"        // callback state missing or not the one in the cookie
	ReasonStateExpired     Reason = "state_expired"    // login took longer than the state cookie lives
	ReasonProviderError    Reason = "provider_error"   // the provider answered with error=...
	ReasonExchangeFailed   Reason = "exchange_failed"  // the token endpoint refused or failed
	ReasonRefreshFailed    Reason = "refresh_failed"   // refresh refused or its tokens did not verify
	ReasonBadSignature     Reason = "bad_signature"    // signature does not verify
	ReasonUnknownKID       Reason = "unknown_kid"      // no provider key has this kid, even after a refetch
	ReasonAmbiguousKey     Reason = "ambiguous_key"    // no kid and several candidate keys
	ReasonAlgNotAllowed    Reason = "alg_not_allowed"  // none, HMAC or an algorithm the provider does not publish
	ReasonWrongIssuer      Reason = "wrong_issuer"     // iss is not the provider
	ReasonWrongAudience    Reason = "wrong_audience"   // aud lacks our client ID
	ReasonWrongAZP         Reason = "wrong_azp"        // azp names another client
	ReasonExpired          Reason = "expired"          // exp passed
	ReasonIssuedInFuture   Reason = "issued_in_future" // iat beyond the skew
	ReasonMissingClaim     Reason = "missing_claim"    // sub, iat, exp, aud or iss absent
	ReasonNonceMismatch    Reason = "nonce_mismatch"   // nonce is not the one sent
	ReasonSubjectMismatch  Reason = "subject_mismatch" // userinfo or refreshed token names another sub
	ReasonBadReturnURL     Reason = "bad_return_url"   // rd rejected (replaced by /, recorded)
	ReasonProviderDisabled Reason = "login_not_configured"
)

// Error is a login or session failure with its typed reason. Its message
// never holds a token or cookie value.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "login: " + string(e.Reason)
	}
	return "login: " + string(e.Reason) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

func wrapFail(r Reason, err error) *Error { return &Error{Reason: r, Err: err} }

// ReasonOf returns the reason of err, or "" when err is not an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
