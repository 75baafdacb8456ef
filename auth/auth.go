// Package auth issues and verifies the gateway's bearer tokens (JWT, HS256,
// `sub` = the user's decimal ID, `exp` required) and authenticates requests.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"authz-gateway/apperr"
	"authz-gateway/ent"
	"authz-gateway/reqctx"

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

// Verify checks the signature (HS256 only), the expiry (required) and the
// subject, and returns the user ID.
func (t *Tokens) Verify(token string) (int, error) {
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
		return 0, ErrTokenExpired
	case err != nil:
		return 0, ErrTokenInvalid
	case t.maxAge > 0 && (claims.IssuedAt == nil || t.now().Sub(claims.IssuedAt.Time) > t.maxAge):
		return 0, ErrTokenExpired
	}
	id, err := strconv.Atoi(claims.Subject)
	if err != nil || id <= 0 || strconv.Itoa(id) != claims.Subject {
		return 0, ErrTokenInvalid
	}
	return id, nil
}

// VerifyToken is the first authentication middleware: it checks the bearer
// token, without the database, and records its subject (or, for a token that
// is not acceptable, a client-safe reason). Cheap enough to run before rate
// limiting, which keys on the subject.
func VerifyToken(tokens *Tokens) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			switch id, reason := tokens.subject(r); {
			case id != 0:
				ctx = reqctx.NewContextWithSubject(ctx, id)
			case reason != "":
				ctx = reqctx.NewContextWithAuthFailure(ctx, apperr.Errorf(apperr.Unauthenticated, "%s", reason))
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// subject returns the user ID of the request's bearer token: 0 and no reason
// when no token was sent; 0 and a client-safe reason when one was sent but is
// not acceptable.
func (t *Tokens) subject(r *http.Request) (int, string) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return 0, ""
	}
	token, ok := BearerToken(header)
	if !ok {
		return 0, "the Authorization header must be: Bearer <token>"
	}
	id, err := t.Verify(token)
	if err != nil {
		return 0, err.Error()
	}
	return id, ""
}

// BearerToken extracts the token of an Authorization value "Bearer <token>"
// (the scheme in any case); false when it is not one. The HTTP middleware
// and the websocket's connection_init read tokens with it.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// ViewerSource resolves a verified token's subject to an active user. It may
// return a context carrying what it learned on the way (the authz service
// keeps the viewer's answers for the request); an unknown or inactive user is
// nil, an unavailable source an error.
type ViewerSource func(ctx context.Context, userID int) (context.Context, *ent.User, error)

// LoadViewer is the second authentication middleware: the verified token's
// user, if it exists and is active, becomes the request's viewer.
func LoadViewer(source ViewerSource) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if id, ok := reqctx.SubjectFromContext(ctx); ok {
				ctx = withUser(ctx, source, id)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func withUser(ctx context.Context, source ViewerSource, id int) context.Context {
	resolved, u, err := source(ctx, id)
	switch {
	case err != nil:
		slog.WarnContext(ctx, "authentication: user lookup failed", "err", err)
		return reqctx.NewContextWithAuthFailure(ctx, apperr.Wrap(apperr.Unavailable, err, "the database is unavailable; try again"))
	case u == nil:
		return reqctx.NewContextWithAuthFailure(ctx, apperr.Errorf(apperr.Unauthenticated, "unknown or inactive user"))
	}
	return context.WithValue(resolved, userKey{}, u)
}

type userKey struct{}

// UserFromContext returns the viewer's user row as LoadViewer read it (the
// loaders prime it), or nil.
func UserFromContext(ctx context.Context) *ent.User {
	u, _ := ctx.Value(userKey{}).(*ent.User)
	return u
}
