package authz

import (
	"strings"

	"authz-gateway/auth"

	"golang.org/x/text/unicode/norm"
)

// text is one client-supplied text field of a write.
type text struct {
	field     string
	value     *string // nil: not given
	multiline bool    // descriptions may hold line breaks and tabs
	// email: refused unless already in NFC (normalizing it would turn a
	// lookalike, the Kelvin sign say, into someone else's address).
	email bool
}

// name and description describe the usual fields.
func name(v *string) text        { return text{field: "name", value: v} }
func description(v *string) text { return text{field: "description", value: v, multiline: true} }
func emailText(v *string) text   { return text{field: "email", value: v, email: true} }
func groupText(v *string) text   { return text{field: "externalGroup", value: v} }

// cleanTexts normalizes the fields in place before anything compares or
// stores them: NFC (so "é" typed two ways is one name; an email must
// already be in it), surrounding space trimmed. A name must not be empty,
// and no field may hold control or format characters (Unicode Cc and Cf:
// bidirectional overrides, zero-width spaces: text that displays other
// than it reads), except a description's line breaks and tabs.
// BAD_USER_INPUT names the field.
func cleanTexts(fields ...text) error {
	for _, f := range fields {
		if f.value == nil {
			continue
		}
		v := strings.TrimSpace(*f.value)
		if f.email {
			if err := auth.CheckEmail(v); err != nil {
				return badInput("%s", err.Error())
			}
		}
		v = norm.NFC.String(v)
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

// lineBreaks are what a multiline field may hold of the control
// characters: read as spaces when looking for the others.
var lineBreaks = strings.NewReplacer("\n", " ", "\r", " ", "\t", " ")

func firstForbiddenRune(s string, multiline bool) (rune, bool) {
	if multiline {
		s = lineBreaks.Replace(s)
	}
	return auth.FirstInvisible(s)
}
