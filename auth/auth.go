// Package auth issues and verifies the gateway's bearer tokens (JWT, HS256,
// `sub` = the user's decimal ID, `exp` required) and verifies the tokens
// of the team's identity provider (asymmetric keys from its published key
// set; Issuer, KeySet). Requests are authenticated by the gate, which
// uses it.
package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tokens issues and verifies tokens with one HMAC key.
type Tokens struct {
	secret []byte
	now    func() time.Time
	// maxAge, when set, refuses tokens issued longer ago than this.
	maxAge time.Duration
}

// ClockSkew is how far in the future a token's iat (or in the past its exp)
// may be: clocks of the issuer and the gateway differ a little, not an hour.
const ClockSkew = 30 * time.Second

// NewTokens returns Tokens keyed by the raw bytes of secret.
func NewTokens(secret []byte) *Tokens {
	return &Tokens{secret: secret, now: time.Now}
}

// WithMaxAge returns t refusing tokens older than maxAge (0: no limit).
func (t *Tokens) WithMaxAge(maxAge time.Duration) *Tokens {
	c := *t
	c.maxAge = maxAge
	return &c
}

// Issue returns a token for userID that expires after ttl.
func (t *Tokens) Issue(userID int, ttl time.Duration) (string, error) {
	now := t.now()
	claims := jwt.RegisteredClaims{
		Subject:   strconv.Itoa(userID),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// Errors of Verify, worded for clients.
var (
	ErrTokenExpired = errors.New("token expired")
	ErrTokenInvalid = errors.New("invalid token")
)

// Identity is what a verified token says: whose it is and until when it may
// be used (its exp plus the allowed clock skew, or its iat plus
// TOKEN_MAX_AGE, whichever comes first). A websocket is closed at Until.
// The gateway's own tokens name the user (UserID); an identity provider's
// say who the caller is there (External), which the gate maps to a user.
type Identity struct {
	UserID   int
	External *External
	Until    time.Time
}

// Verify checks the signature (HS256 only), the expiry (required) and the
// subject, and returns the token's identity.
func (t *Tokens) Verify(token string) (Identity, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, refused(ErrTokenExpired, err.Error())
	case err != nil:
		return Identity{}, refused(ErrTokenInvalid, "the gateway's own token (no iss): "+err.Error())
	case t.maxAge > 0 && (claims.IssuedAt == nil || t.now().Sub(claims.IssuedAt.Time) > t.maxAge):
		return Identity{}, refused(ErrTokenExpired, "no iat, or issued longer ago than TOKEN_MAX_AGE")
	}
	id, err := strconv.Atoi(claims.Subject)
	if err != nil || id <= 0 || strconv.Itoa(id) != claims.Subject {
		return Identity{}, refused(ErrTokenInvalid, "sub is not a user ID")
	}
	until := claims.ExpiresAt.Add(ClockSkew)
	if t.maxAge > 0 {
		until = minTime(until, claims.IssuedAt.Add(t.maxAge))
	}
	return Identity{UserID: id, Until: until}, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// ErrNotBearer is the reason given for an Authorization value that is not
// "Bearer <token>".
var ErrNotBearer = errors.New("the Authorization header must be: Bearer <token>")

// BearerToken extracts the token of an Authorization value "Bearer <token>"
// (the scheme in any case); false when it is not one.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
