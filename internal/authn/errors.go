// Package authn verifies bearer tokens (JWTs) from the issuers the gateway
// trusts and turns them into an *identity.Identity.
//
// A Set holds one Verifier per configured issuer and a bounded cache of
// verified tokens, so a token seen again costs a hash and a map lookup
// rather than a signature check. Keys come from each issuer's JWKS (by OIDC
// discovery, a JWKS URL or a file), fetched with a bounded client, cached
// as the provider's cache headers say, refreshed in the background, kept
// when the provider is unreachable, and refetched on an unknown key ID at
// most once per interval, so random key IDs cannot turn into requests to
// the provider.
//
// Verification is strict and fails closed: the algorithm must be on the
// issuer's allow-list and match the key type, keys named by the token
// (jku, x5u, jwk, x5c) are never used, an unknown crit header is refused,
// duplicate JSON keys are refused, iss, aud, exp, nbf and iat are checked
// with a bounded clock skew, and the token's lifetime is capped. Every
// refusal is an *Error with a typed Reason (errors.Is matches the Err*
// sentinels); none of them carries the token.
package authn

import (
	"errors"
)

// Reason is the typed cause of a refused token. The values are stable: they
// appear in metrics labels, audit events and the 401 response.
type Reason string

// The reasons a token is refused.
const (
	ReasonMissing           Reason = "missing"
	ReasonMalformed         Reason = "malformed"
	ReasonBadSignature      Reason = "bad_signature"
	ReasonUnknownKID        Reason = "unknown_kid"
	ReasonExpired           Reason = "expired"
	ReasonNotYetValid       Reason = "not_yet_valid"
	ReasonIssuedInFuture    Reason = "issued_in_future"
	ReasonWrongIssuer       Reason = "wrong_issuer"
	ReasonWrongAudience     Reason = "wrong_audience"
	ReasonAlgNotAllowed     Reason = "alg_not_allowed"
	ReasonLifetimeTooLong   Reason = "lifetime_too_long"
	ReasonMissingClaim      Reason = "missing_claim"
	ReasonClaimMismatch     Reason = "claim_mismatch"
	ReasonDomainNotAllowed  Reason = "domain_not_allowed"
	ReasonGroupOverage      Reason = "group_overage"
	ReasonUnsupportedHeader Reason = "unsupported_header"
	ReasonWrongType         Reason = "wrong_type"
	ReasonTooLarge          Reason = "too_large"
	ReasonIssuerUnavailable Reason = "issuer_unavailable"
)

// Reasons lists every reason, in a stable order (for docs and tests).
var Reasons = []Reason{
	ReasonMissing, ReasonMalformed, ReasonTooLarge, ReasonUnsupportedHeader, ReasonWrongType,
	ReasonAlgNotAllowed, ReasonUnknownKID, ReasonBadSignature, ReasonWrongIssuer, ReasonWrongAudience,
	ReasonExpired, ReasonNotYetValid, ReasonIssuedInFuture, ReasonLifetimeTooLong, ReasonMissingClaim,
	ReasonClaimMismatch, ReasonDomainNotAllowed, ReasonGroupOverage, ReasonIssuerUnavailable,
}

// Description is the fixed, public sentence for r: it goes into the
// error_description of the 401 and never contains anything from the token.
func (r Reason) Description() string {
	switch r {
	case ReasonMissing:
		return "no bearer token was sent"
	case ReasonMalformed:
		return "the token is not a well-formed compact JWS JWT"
	case ReasonTooLarge:
		return "the token is too large"
	case ReasonUnsupportedHeader:
		return "the token has a critical header this gateway does not support"
	case ReasonWrongType:
		return "the token type (typ) is not an access or ID token"
	case ReasonAlgNotAllowed:
		return "the signing algorithm is not allowed for this issuer"
	case ReasonUnknownKID:
		return "the signing key is not among the issuer's current keys"
	case ReasonBadSignature:
		return "the signature is invalid"
	case ReasonWrongIssuer:
		return "the token issuer is not trusted here"
	case ReasonWrongAudience:
		return "the token audience is not accepted here"
	case ReasonExpired:
		return "the token has expired"
	case ReasonNotYetValid:
		return "the token is not valid yet (nbf)"
	case ReasonIssuedInFuture:
		return "the token is issued in the future (iat)"
	case ReasonLifetimeTooLong:
		return "the token lifetime (exp - iat) exceeds the maximum allowed"
	case ReasonMissingClaim:
		return "a required claim is missing"
	case ReasonClaimMismatch:
		return "a required claim does not have an accepted value"
	case ReasonDomainNotAllowed:
		return "the account's domain is not allowed"
	case ReasonGroupOverage:
		return "group overage: the token does not carry the user's groups"
	case ReasonIssuerUnavailable:
		return "the token issuer's keys are not available"
	}
	return "the token was refused"
}

// sentinel is the comparable error behind each Err* variable.
type sentinel struct{ r Reason }

func (s *sentinel) Error() string { return "authn: " + string(s.r) }

// Sentinels for errors.Is, one per Reason.
var (
	ErrMissing           error = &sentinel{ReasonMissing}
	ErrMalformed         error = &sentinel{ReasonMalformed}
	ErrTooLarge          error = &sentinel{ReasonTooLarge}
	ErrUnsupportedHeader error = &sentinel{ReasonUnsupportedHeader}
	ErrWrongType         error = &sentinel{ReasonWrongType}
	ErrAlgNotAllowed     error = &sentinel{ReasonAlgNotAllowed}
	ErrUnknownKID        error = &sentinel{ReasonUnknownKID}
	ErrBadSignature      error = &sentinel{ReasonBadSignature}
	ErrWrongIssuer       error = &sentinel{ReasonWrongIssuer}
	ErrWrongAudience     error = &sentinel{ReasonWrongAudience}
	ErrExpired           error = &sentinel{ReasonExpired}
	ErrNotYetValid       error = &sentinel{ReasonNotYetValid}
	ErrIssuedInFuture    error = &sentinel{ReasonIssuedInFuture}
	ErrLifetimeTooLong   error = &sentinel{ReasonLifetimeTooLong}
	ErrMissingClaim      error = &sentinel{ReasonMissingClaim}
	ErrClaimMismatch     error = &sentinel{ReasonClaimMismatch}
	ErrDomainNotAllowed  error = &sentinel{ReasonDomainNotAllowed}
	ErrGroupOverage      error = &sentinel{ReasonGroupOverage}
	ErrIssuerUnavailable error = &sentinel{ReasonIssuerUnavailable}
)

var sentinels = map[Reason]error{
	ReasonMissing: ErrMissing, ReasonMalformed: ErrMalformed, ReasonTooLarge: ErrTooLarge,
	ReasonUnsupportedHeader: ErrUnsupportedHeader, ReasonWrongType: ErrWrongType,
	ReasonAlgNotAllowed: ErrAlgNotAllowed, ReasonUnknownKID: ErrUnknownKID, ReasonBadSignature: ErrBadSignature,
	ReasonWrongIssuer: ErrWrongIssuer, ReasonWrongAudience: ErrWrongAudience, ReasonExpired: ErrExpired,
	ReasonNotYetValid: ErrNotYetValid, ReasonIssuedInFuture: ErrIssuedInFuture,
	ReasonLifetimeTooLong: ErrLifetimeTooLong, ReasonMissingClaim: ErrMissingClaim,
	ReasonClaimMismatch: ErrClaimMismatch, ReasonDomainNotAllowed: ErrDomainNotAllowed,
	ReasonGroupOverage: ErrGroupOverage, ReasonIssuerUnavailable: ErrIssuerUnavailable,
}

// Error is a refused token. Detail is short, non-secret text for logs and
// the response (a claim name from the configuration, the fix for a group
// overage); it never holds token content. Issuer is the configured name of
// the issuer that refused it, when one was chosen.
type Error struct {
	Reason Reason
	Issuer string
	Detail string
	// Err is the underlying cause (a library error), for logs only.
	Err error
}

func (e *Error) Error() string {
	s := "authn: " + string(e.Reason)
	if e.Issuer != "" {
		s += " (issuer " + e.Issuer + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the reason's sentinel and the cause.
func (e *Error) Unwrap() []error {
	out := []error{sentinels[e.Reason]}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Description is the public text for the response: the reason's sentence,
// with the detail when there is one.
func (e *Error) Description() string {
	if e.Detail != "" {
		return e.Reason.Description() + ": " + e.Detail
	}
	return e.Reason.Description()
}

func fail(r Reason, detail string, cause error) *Error {
	return &Error{Reason: r, Detail: detail, Err: cause}
}

// ReasonOf returns the reason of err, or "" when err is not from this
// package.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	var s *sentinel
	if errors.As(err, &s) {
		return s.r
	}
	return ""
}
