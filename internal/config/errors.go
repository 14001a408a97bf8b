package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error that reports a problem in a
// configuration file, so callers can tell "the file is wrong" from "the file
// could not be read" with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Error is one problem at one place in a configuration file.
type Error struct {
	File string
	Position
	// Path is the field path, e.g. "routes[2].match.path".
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("<config>")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		// YAML syntax errors carry a line but no column.
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes every Error match ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// ErrorList is every problem found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Errorf returns an Error at path, positioned with p (which may be nil).
func (p *Positions) Errorf(path, format string, args ...any) *Error {
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if p != nil {
		e.File = p.File
		e.Position = p.Lookup(path)
	}
	return e
}
