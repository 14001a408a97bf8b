// Package httperr is the one HTTP error type of the gateway.
//
// Every stage returns errors; the edge renders them in one place (Render).
// An *Error separates what the client may read (Public, Code) from what only
// the operator's log may hold (Err), and carries the request ID that links
// the two.
package httperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an HTTP failure with a status, a user-safe message and the cause.
type Error struct {
	// Status is the HTTP status to send.
	Status int
	// Code is a short, stable, machine-readable reason such as
	// "hygiene.encoded_slash" or "origin.timeout"; it is safe to show.
	Code string
	// Public is the message shown to the client. It never holds secrets or
	// internal detail.
	Public string
	// Err is the internal cause, for logs only. May be nil.
	Err error
	// Header holds extra response headers (for example WWW-Authenticate
	// or Location).
	Header http.Header
}

// New returns an *Error.
func New(status int, code, public string, cause error) *Error {
	return &Error{Status: status, Code: code, Public: public, Err: cause}
}

// BadRequest is the 400 every hygiene rule answers with.
func BadRequest(code, public string) *Error {
	return New(http.StatusBadRequest, code, public, nil)
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Public, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Public)
}

func (e *Error) Unwrap() error { return e.Err }

// As returns err as an *Error, wrapping anything else as a 500 whose
// public text reveals nothing.
func As(err error) *Error {
	var he *Error
	// A typed nil *Error inside err must not come back as nil.
	if errors.As(err, &he) && he != nil {
		return he
	}
	return New(http.StatusInternalServerError, "internal", "internal error", err)
}
