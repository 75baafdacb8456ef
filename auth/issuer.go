package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// UserClaim names the claim that maps an identity provider's token to a
// user (AUTH_USER_CLAIM).
type UserClaim string

// The user claims: the user whose email equals the token's `email`
// (case-insensitively), or whose externalId equals its `sub`.
const (
	ClaimEmail UserClaim = "email"
	ClaimSub   UserClaim = "sub"
)

// External is who an identity provider's token says the caller is. Key is
// the value the user is found by: the email, lower-cased, for ClaimEmail;
// the subject for ClaimSub.
type External struct {
	By      UserClaim
	Key     string
	Subject string
	Email   string
	Name    string
}

// IssuerConfig configures the verifier of one identity provider's tokens.
type IssuerConfig struct {
	Issuer   string
	Audience string
	Claim    UserClaim
	Keys     *KeySet
}

// IssuerAlgorithms are the only algorithms an issuer's token may use:
// asymmetric ones, verified with a key from the provider's set. Never HS*
// (an HMAC "signed" with the public key as its secret) nor none.
var IssuerAlgorithms = []string{
	jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg(),
}

// Issuer verifies the tokens of one identity provider.
type Issuer struct {
	cfg     IssuerConfig
	keyfunc jwt.Keyfunc
	parser  *jwt.Parser
	now     func() time.Time
}

// NewIssuer returns the verifier of cfg's tokens.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.Keys == nil {
		return nil, errors.New("an issuer needs its URL, an audience and a key set")
	}
	if cfg.Claim != ClaimEmail && cfg.Claim != ClaimSub {
		return nil, fmt.Errorf("user claim %q: must be email or sub", cfg.Claim)
	}
	kf, err := keyfunc.New(keyfunc.Options{Storage: cfg.Keys})
	if err != nil {
		return nil, fmt.Errorf("key function: %w", err)
	}
	v := &Issuer{cfg: cfg, keyfunc: kf.Keyfunc, now: time.Now}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(IssuerAlgorithms),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v, nil
}

// Accepts reports whether a token with this iss is this issuer's.
func (v *Issuer) Accepts(iss string) bool { return SameIssuer(iss, v.cfg.Issuer) }

// Keys returns the issuer's key set.
func (v *Issuer) Keys() *KeySet { return v.cfg.Keys }

type issuerClaims struct {
	jwt.RegisteredClaims
	Email             string `json:"email"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
}

// Verify checks an issuer's token: an allowed algorithm, the key its kid
// names in the set (a token without a kid only while the set holds one
// key), the signature, iss, aud, exp (required), nbf and iat with the
// clock skew, and the user claim.
func (v *Issuer) Verify(token string) (Identity, error) {
	var claims issuerClaims
	_, err := v.parser.ParseWithClaims(token, &claims, v.key)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, ErrTokenExpired
	case err != nil:
		return Identity{}, ErrTokenInvalid
	case !v.Accepts(claims.Issuer):
		return Identity{}, ErrTokenInvalid
	}
	ext := External{By: v.cfg.Claim, Subject: claims.Subject, Email: claims.Email, Name: claims.Name}
	if ext.Name == "" {
		ext.Name = claims.PreferredUsername
	}
	switch v.cfg.Claim {
	case ClaimEmail:
		ext.Key = strings.ToLower(strings.TrimSpace(claims.Email))
	case ClaimSub:
		ext.Key = claims.Subject
	}
	if ext.Key == "" {
		return Identity{}, ErrTokenInvalid
	}
	return Identity{External: &ext, Until: claims.ExpiresAt.Add(ClockSkew)}, nil
}

// key finds the token's key; without a kid, only a set of exactly one key
// says which key is meant.
func (v *Issuer) key(t *jwt.Token) (any, error) {
	if _, named := t.Header["kid"]; !named && v.cfg.Keys.Len() != 1 {
		return nil, errors.New("the token names no key (kid) and the key set holds several")
	}
	return v.keyfunc(t)
}

// Verifier is what the gate verifies bearer tokens with.
type Verifier interface {
	Verify(token string) (Identity, error)
}

// Verifiers chooses the verifier of a token by its `iss`, never by its
// `alg`: a token of the configured issuer goes to Issuer (asymmetric keys
// only), a token without iss to Own (the gateway's HS256 tokens), any
// other is invalid. Verified tokens are remembered until they expire, so
// a warm request pays one map lookup, whichever the kind.
type Verifiers struct {
	Own    *Tokens
	Issuer *Issuer // nil: no identity provider
	cache  *verifiedTokens
}

// NewVerifiers returns the verifier of own tokens and, when issuer is not
// nil, of the issuer's.
func NewVerifiers(own *Tokens, issuer *Issuer) *Verifiers {
	return &Verifiers{Own: own, Issuer: issuer, cache: newVerifiedTokens(defaultVerifiedTokens)}
}

// Verify returns the identity of token.
func (v *Verifiers) Verify(token string) (Identity, error) {
	now := v.Own.now()
	version := v.keysVersion()
	if id, ok := v.cache.get(token, now, version); ok {
		return id, nil
	}
	id, err := v.verify(token)
	if err == nil {
		v.cache.put(token, id, version)
	}
	return id, err
}

func (v *Verifiers) verify(token string) (Identity, error) {
	if v.Issuer == nil {
		return v.Own.Verify(token)
	}
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return Identity{}, ErrTokenInvalid
	}
	switch {
	case claims.Issuer == "":
		return v.Own.Verify(token)
	case v.Issuer.Accepts(claims.Issuer):
		return v.Issuer.Verify(token)
	}
	return Identity{}, ErrTokenInvalid
}

func (v *Verifiers) keysVersion() uint64 {
	if v.Issuer == nil {
		return 0
	}
	return v.Issuer.cfg.Keys.Version()
}

// Ready is nil when every verifier can verify (the issuer knows keys).
func (v *Verifiers) Ready(context.Context) error {
	if v.Issuer == nil {
		return nil
	}
	return v.Issuer.cfg.Keys.Ready()
}
