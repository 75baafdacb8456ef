// Package redact keeps passwords in connection URLs (DATABASE_URL,
// REDIS_URL) out of errors and logs: URL parsers quote the whole URL when
// it is malformed.
package redact

import "regexp"

// userinfoPassword matches the password of "scheme://user:password@".
var userinfoPassword = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://[^:/@\s"]*:)[^@\s"]*@`)

// URLs replaces every URL password in s with "xxxxx".
func URLs(s string) string {
	return userinfoPassword.ReplaceAllString(s, "${1}xxxxx@")
}

// Error is err with every URL password in its message replaced; errors.Is
// and errors.As still see err.
func Error(err error) error {
	if err == nil {
		return nil
	}
	return redacted{err}
}

type redacted struct{ err error }

func (r redacted) Error() string { return URLs(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }
