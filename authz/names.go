package authz

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// text is one client-supplied text field of a write.
type text struct {
	field     string
	value     *string // nil: not given
	multiline bool    // descriptions may hold line breaks and tabs
}

// name and description describe the usual fields.
func name(v *string) text        { return text{field: "name", value: v} }
func description(v *string) text { return text{field: "description", value: v, multiline: true} }

// cleanTexts normalizes the fields in place before anything compares or
// stores them: NFC (so "é" typed two ways is one name), surrounding space
// trimmed. A name must not be empty, and no field may hold control
// characters or bidirectional overrides (text that displays other than it
// reads). BAD_USER_INPUT names the field.
func cleanTexts(fields ...text) error {
	for _, f := range fields {
		if f.value == nil {
			continue
		}
		v := strings.TrimSpace(norm.NFC.String(*f.value))
		if !f.multiline && v == "" {
			return badInput("%s must not be empty", f.field)
		}
		if r, bad := firstForbiddenRune(v, f.multiline); bad {
			return badInput("%s must not contain the character U+%04X", f.field, r)
		}
		*f.value = v
	}
	return nil
}

func firstForbiddenRune(s string, multiline bool) (rune, bool) {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || isBidiControl(r) || r == unicode.ReplacementChar {
			return r, true
		}
	}
	return 0, false
}

// isBidiControl reports the invisible characters that reorder how text
// displays (the "Trojan Source" characters, and the marks).
func isBidiControl(r rune) bool {
	switch {
	case r == 0x061C, r == 0x200E, r == 0x200F:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
