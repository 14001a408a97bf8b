// Package login is the gateway's OpenID Connect relying party for browsers:
// the authorization code flow with PKCE (S256), state and nonce bound to a
// short-lived sealed cookie, strict ID token verification against the
// provider's JWKS, server-side sessions with refresh, idle and absolute
// timeouts, local and RP-initiated logout, and the whoami page.
//
// When login.issuer names an identity.issuers entry, ID tokens are verified
// with that issuer's keys (internal/authn: one key cache per issuer) and
// its rules (algorithms, clock skew, lifetime cap, required claims, allowed
// domains, group overage, claim mapping) decide who the session is, at
// login, at every refresh and on every request, so a stricter reload ends
// the sessions it no longer admits.
//
// It never puts a provider token in a cookie, a page, a URL it builds for
// the browser (except id_token_hint toward the provider's own end-session
// endpoint), a log line or an error.
package login

import (
	"errors"
	"fmt"

	"github.com/edgegate/edgegate/internal/authn"
)

// Reason is a typed failure reason, recorded in audit events and metrics.
type Reason string

// Failure reasons.
const (
	ReasonMissing           Reason = "missing"            // no session cookie
	ReasonMalformed         Reason = "malformed"          // unreadable cookie, parameter or token
	ReasonBadCookie         Reason = "bad_cookie"         // cookie forged or sealed with a retired key
	ReasonSessionExpired    Reason = "session_expired"    // unknown session, absolute timeout or token gone
	ReasonIdleTimeout       Reason = "idle_timeout"       // no request within the idle timeout
	ReasonBadState          Reason = "bad_state"          // callback state missing or not the one in the cookie
	ReasonStateExpired      Reason = "state_expired"      // login took longer than the state cookie lives
	ReasonProviderError     Reason = "provider_error"     // the provider failed (error=server_error, userinfo unreachable)
	ReasonProviderDenied    Reason = "provider_denied"    // the provider sent the browser back with error=access_denied or another refusal
	ReasonBadCode           Reason = "bad_code"           // the code cannot be one, or the token endpoint refused it (invalid_grant)
	ReasonExchangeFailed    Reason = "exchange_failed"    // the token endpoint failed (network, 5xx, client not accepted)
	ReasonRefreshFailed     Reason = "refresh_failed"     // refresh refused or its tokens did not verify
	ReasonBadSignature      Reason = "bad_signature"      // signature does not verify
	ReasonUnknownKID        Reason = "unknown_kid"        // no provider key has this kid, even after a refetch
	ReasonAmbiguousKey      Reason = "ambiguous_key"      // no kid and several candidate keys
	ReasonAlgNotAllowed     Reason = "alg_not_allowed"    // none, HMAC or an algorithm the provider does not publish
	ReasonWrongIssuer       Reason = "wrong_issuer"       // iss is not the provider
	ReasonWrongAudience     Reason = "wrong_audience"     // aud lacks our client ID
	ReasonWrongAZP          Reason = "wrong_azp"          // azp names another client
	ReasonExpired           Reason = "expired"            // exp passed
	ReasonIssuedInFuture    Reason = "issued_in_future"   // iat beyond the skew
	ReasonNotYetValid       Reason = "not_yet_valid"      // nbf beyond the skew
	ReasonLifetimeTooLong   Reason = "lifetime_too_long"  // exp - iat over the issuer's max_token_lifetime
	ReasonMissingClaim      Reason = "missing_claim"      // sub, iat, exp, aud, iss or a required claim absent
	ReasonClaimMismatch     Reason = "claim_mismatch"     // a required claim without an accepted value
	ReasonDomainNotAllowed  Reason = "domain_not_allowed" // Google hd not in allowed_domains
	ReasonGroupOverage      Reason = "group_overage"      // Entra ID left the groups out of the token
	ReasonIssuerUnavailable Reason = "issuer_unavailable" // the identity issuer's keys are not loaded
	ReasonNonceMismatch     Reason = "nonce_mismatch"     // nonce is not the one sent
	ReasonSubjectMismatch   Reason = "subject_mismatch"   // userinfo or refreshed token names another sub
	ReasonBadReturnURL      Reason = "bad_return_url"     // rd rejected (replaced by /, recorded)
	ReasonProviderDisabled  Reason = "login_not_configured"
)

// Error is a login or session failure with its typed reason. Its message
// never holds a token or cookie value.
type Error struct {
	Reason Reason
	// Detail is public text for the response: a fixed sentence, a claim
	// name from the configuration or the provider's sanitized error code;
	// never token content.
	Detail string
	// Subject is the subject the provider vouched for when the refusal
	// came after the ID token verified (the issuer's rules refused it), for
	// the audit record.
	Subject string
	Err     error
}

func (e *Error) Error() string {
	s := "login: " + string(e.Reason)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

func wrapFail(r Reason, err error) *Error { return &Error{Reason: r, Err: err} }

// fromAuthn turns a refusal by the identity issuer (internal/authn) into a
// login error with the same reason name, so a bearer token and a session
// refused for one cause are recorded alike; its public description is the
// Detail.
func fromAuthn(err error) *Error {
	var ae *authn.Error
	if !errors.As(err, &ae) {
		return wrapFail(ReasonMalformed, err)
	}
	r := Reason(ae.Reason)
	switch ae.Reason {
	case authn.ReasonMissing, authn.ReasonUnsupportedHeader, authn.ReasonWrongType, authn.ReasonTooLarge:
		r = ReasonMalformed
	}
	return &Error{Reason: r, Detail: ae.Description(), Err: err}
}

// ReasonOf returns the reason of err, or "" when err is not an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
