// Package apperr defines the small set of error codes the gateway shows to
// clients (they become GraphQL `extensions.code`) and helpers to attach and read
// them. An error without a code is internal: it is logged and shown to clients
// as INTERNAL without detail.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients.
type Code string

// The codes, as docs/design.md, section 5 names them.
const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	NotFound        Code = "NOT_FOUND"
	BadUserInput    Code = "BAD_USER_INPUT"
	// RateLimited: too many requests; retry after the Retry-After header.
	RateLimited Code = "RATE_LIMITED"
	// Unavailable: the database is unreachable or too slow; retry.
	Unavailable Code = "UNAVAILABLE"
	Internal    Code = "INTERNAL"
)

// Error is an error with a client-safe code and message.
type Error struct {
	Code    Code
	Message string
	// Err is the cause, kept for logs and errors.Is; never shown to clients.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an error with code and a formatted client-safe message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches code and a client-safe message to cause.
func Wrap(code Code, cause error, message string) error {
	return &Error{Code: code, Message: message, Err: cause}
}

// CodeOf returns the code of the first coded error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// MessageOf returns the client-safe message of err, or a generic one for
// internal errors.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != Internal {
		return e.Message
	}
	return "internal error"
}
