// Package auth issues and verifies the gateway's bearer tokens (JWT, HS256,
// `sub` = the user's decimal ID, `exp` required) and authenticates requests.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"authz-gateway/ent"
	"authz-gateway/reqctx"

	"github.com/golang-jwt/jwt/v5"
)

// Tokens issues and verifies tokens with one HMAC key.
type Tokens struct {
	secret []byte
	now    func() time.Time
}

// NewTokens returns Tokens keyed by the raw bytes of secret.
func NewTokens(secret []byte) *Tokens {
	return &Tokens{secret: secret, now: time.Now}
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

// Verify checks the signature (HS256 only), the expiry (required) and the
// subject, and returns the user ID.
func (t *Tokens) Verify(token string) (int, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 0, ErrTokenExpired
	case err != nil:
		return 0, ErrTokenInvalid
	}
	id, err := strconv.Atoi(claims.Subject)
	if err != nil || id <= 0 || strconv.Itoa(id) != claims.Subject {
		return 0, ErrTokenInvalid
	}
	return id, nil
}

// Authenticator turns a request's bearer token into an active user.
type Authenticator struct {
	tokens *Tokens
	db     *ent.Client
}

// NewAuthenticator returns an Authenticator verifying with tokens and looking
// users up in db.
func NewAuthenticator(tokens *Tokens, db *ent.Client) *Authenticator {
	return &Authenticator{tokens: tokens, db: db}
}

// Subject returns the user ID of the request's bearer token: 0 and no reason
// when no token was sent; 0 and a client-safe reason when one was sent but is
// not acceptable. It only checks the token (no database), so it is cheap
// enough to run before rate limiting.
func (a *Authenticator) Subject(r *http.Request) (int, string) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return 0, ""
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return 0, "the Authorization header must be: Bearer <token>"
	}
	id, err := a.tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		return 0, err.Error()
	}
	return id, ""
}

// User loads the token's user; an unknown or inactive user is not
// authenticated.
func (a *Authenticator) User(ctx context.Context, id int) (*ent.User, string) {
	u, err := a.db.User.Get(reqctx.NewSystemContext(ctx), id)
	switch {
	case ent.IsNotFound(err), err == nil && !u.Active:
		return nil, "unknown or inactive user"
	case err != nil:
		return nil, "authentication is unavailable; try again"
	}
	return u, ""
}

// ContextWithUser puts u (or the reason it was rejected) into ctx.
func ContextWithUser(ctx context.Context, u *ent.User, reason string) context.Context {
	if u == nil {
		if reason != "" {
			ctx = reqctx.NewContextWithAuthFailure(ctx, reason)
		}
		return ctx
	}
	return reqctx.NewContextWithViewer(ctx, reqctx.Viewer{UserID: u.ID, Email: u.Email})
}
