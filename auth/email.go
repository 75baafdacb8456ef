package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail is the form emails are stored, compared and looked up in:
// surrounding space trimmed and ASCII letters lower-cased, nothing else.
// Unicode case folding is never applied: it maps lookalikes onto plain
// addresses (the Kelvin sign K onto k, a dotted İ onto i), so two distinct
// addresses would name one user.
func NormalizeEmail(email string) string {
	email = strings.TrimSpace(email)
	for i := 0; i < len(email); i++ {
		if c := email[i]; c >= 'A' && c <= 'Z' {
			return strings.Map(asciiLower, email)
		}
	}
	return email
}

func asciiLower(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + ('a' - 'A')
	}
	return r
}

// ErrEmailNotNFC refuses an email that Unicode NFC would change.
var ErrEmailNotNFC = errors.New("email must be in Unicode NFC (composed) form")

// CheckEmail refuses an email that could pass for another: one not already
// in Unicode NFC (normalizing it instead would turn the Kelvin sign into K
// and so onto someone else's address), or one holding control or format
// characters (Unicode Cc and Cf: bidirectional overrides, zero-width
// spaces), which display as nothing or reorder what is shown.
func CheckEmail(email string) error {
	if !norm.NFC.IsNormalString(email) {
		return ErrEmailNotNFC
	}
	if r, bad := FirstInvisible(email); bad {
		return fmt.Errorf("email must not contain the character U+%04X", r)
	}
	return nil
}

// FirstInvisible finds the first control or format character (Unicode Cc
// or Cf) of s, or the replacement character that stands for invalid UTF-8.
func FirstInvisible(s string) (rune, bool) {
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf) || r == unicode.ReplacementChar {
			return r, true
		}
	}
	return 0, false
}
