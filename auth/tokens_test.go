package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func signed(t *testing.T, secret []byte, claims jwt.RegisteredClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	require.NoError(t, err)
	return s
}

// TestTokens_IssuedAt: a token whose iat lay an hour in the future was
// accepted (issue 9, repro 14); a small skew is allowed, and TOKEN_MAX_AGE
// refuses old tokens.
func TestTokens_IssuedAt(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tokens := NewTokens(secret)
	tokens.now = func() time.Time { return now }
	at := func(iat time.Time) string {
		return signed(t, secret, jwt.RegisteredClaims{Subject: "7",
			IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Hour))})
	}

	_, err := tokens.Verify(at(now.Add(time.Hour)))
	assert.ErrorIs(t, err, ErrTokenInvalid, "issued an hour from now")
	id, err := tokens.Verify(at(now.Add(ClockSkew / 2)))
	require.NoError(t, err, "within the clock skew")
	assert.Equal(t, 7, id.UserID)
	assert.WithinDuration(t, now.Add(2*time.Hour+ClockSkew), id.Until, 0, "usable until exp, with the skew HTTP allows")

	old := at(now.Add(-2 * time.Hour))
	_, err = tokens.Verify(old)
	assert.NoError(t, err, "no maximum age by default")
	_, err = tokens.WithMaxAge(time.Hour).Verify(old)
	assert.ErrorIs(t, err, ErrTokenExpired, "older than TOKEN_MAX_AGE")
	young, err := tokens.WithMaxAge(time.Hour).Verify(at(now.Add(-10 * time.Minute)))
	require.NoError(t, err)
	assert.WithinDuration(t, now.Add(50*time.Minute), young.Until, 0, "TOKEN_MAX_AGE ends it before exp")
	noIAT := signed(t, secret, jwt.RegisteredClaims{Subject: "7", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))})
	_, err = tokens.WithMaxAge(time.Hour).Verify(noIAT)
	assert.ErrorIs(t, err, ErrTokenExpired, "a maximum age needs an iat")
}
