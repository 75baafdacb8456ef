package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// UserClaim names the claim that maps an identity provider's token to a
// user (AUTH_USER_CLAIM).
type UserClaim string

// The user claims: the user whose email equals the token's verified
// `email` (ASCII letters in any case), or whose externalId equals its `sub`.
const (
	ClaimEmail UserClaim = "email"
	ClaimSub   UserClaim = "sub"
)

// External is who an identity provider's token says the caller is. Key is
// the value the user is found by: the email (NormalizeEmail) for
// ClaimEmail; the subject for ClaimSub. Email is the token's email only
// when the provider verified it (else empty).
type External struct {
	By      UserClaim
	Key     string
	Subject string
	Email   string
	Name    string
	// Groups are the token's groups (AUTH_GROUPS_CLAIM), sorted, without
	// duplicates; HasGroups says the token carried the claim (only then
	// do the groups decide memberships).
	Groups    []string
	HasGroups bool
}

// IssuerConfig configures the verifier of one identity provider's tokens.
type IssuerConfig struct {
	Issuer   string
	Audience string
	Claim    UserClaim
	Keys     *KeySet
	// MaxAge refuses tokens issued longer ago than this (TOKEN_MAX_AGE;
	// 0: only exp), and with it a token without iat.
	MaxAge time.Duration
	// GroupsClaim names the claim that lists the caller's groups
	// (AUTH_GROUPS_CLAIM; "": groups are not read).
	GroupsClaim string
}

// MaxGroups bounds the groups read from one token: a claim with more is
// refused (a provider sending thousands is misconfigured, and every group
// may cost a membership write).
const MaxGroups = 1000

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

// issuerClaims are the claims of a provider's token that the gateway reads,
// each by its exact name. encoding/json matches struct fields
// case-insensitively, so a later "EMAIL" (or "ISS") would override
// "email" ("iss"): the claims are read from a map instead, where only the
// exact name counts.
type issuerClaims struct {
	jwt.RegisteredClaims
	Email             string
	EmailVerified     bool // only the JSON true
	Name              string
	PreferredUsername string
	// groupsClaim is the name to read Groups from ("": none).
	groupsClaim string
	Groups      []string
	HasGroups   bool
}

// registeredClaimNames are the claims of jwt.RegisteredClaims.
var registeredClaimNames = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// UnmarshalJSON reads the claims by their exact names.
func (c *issuerClaims) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	registered := make(map[string]json.RawMessage, len(registeredClaimNames))
	for _, name := range registeredClaimNames {
		if v, ok := all[name]; ok {
			registered[name] = v
		}
	}
	exact, err := json.Marshal(registered)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(exact, &c.RegisteredClaims); err != nil {
		return err
	}
	for name, into := range map[string]*string{"email": &c.Email, "name": &c.Name, "preferred_username": &c.PreferredUsername} {
		if v, ok := all[name]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, into); err != nil {
				return fmt.Errorf("claim %s: %w", name, err)
			}
		}
	}
	c.EmailVerified = string(all["email_verified"]) == "true"
	if v, ok := all[c.groupsClaim]; ok && c.groupsClaim != "" {
		if err := json.Unmarshal(v, &c.Groups); err != nil {
			return fmt.Errorf("claim %s: not a list of strings: %w", c.groupsClaim, err)
		}
		c.HasGroups = true
	}
	return nil
}

// Verify checks an issuer's token: an allowed algorithm, the key its kid
// names in the set (a token without a kid only while the set holds one
// key), the signature, iss, aud, exp (required), nbf and iat with the
// clock skew, its age (TOKEN_MAX_AGE, iat then required) and the user
// claim. An email names a user only when the provider vouches for it
// (email_verified: true) and it is in NFC without invisible characters.
// A refusal says why (a *RefusedError), for the log, never for the client.
func (v *Issuer) Verify(token string) (Identity, error) {
	claims := issuerClaims{groupsClaim: v.cfg.GroupsClaim}
	_, err := v.parser.ParseWithClaims(token, &claims, v.key)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, refused(ErrTokenExpired, err.Error())
	case err != nil:
		return Identity{}, refused(ErrTokenInvalid, err.Error())
	case !v.Accepts(claims.Issuer):
		return Identity{}, refused(ErrTokenInvalid, "another issuer: "+claims.Issuer)
	}
	until := claims.ExpiresAt.Add(ClockSkew)
	if v.cfg.MaxAge > 0 {
		if claims.IssuedAt == nil {
			return Identity{}, refused(ErrTokenInvalid, "no iat, which TOKEN_MAX_AGE requires")
		}
		if v.now().Sub(claims.IssuedAt.Time) > v.cfg.MaxAge {
			return Identity{}, refused(ErrTokenExpired, fmt.Sprintf("issued at %s, longer ago than TOKEN_MAX_AGE (%s)",
				claims.IssuedAt.UTC().Format(time.RFC3339), v.cfg.MaxAge))
		}
		until = minTime(until, claims.IssuedAt.Add(v.cfg.MaxAge))
	}
	ext := External{By: v.cfg.Claim, Subject: claims.Subject, Name: claims.Name}
	if ext.Name == "" {
		ext.Name = claims.PreferredUsername
	}
	// The email is kept (a new user's address) only when the provider
	// verified it and it cannot pass for another.
	email := strings.TrimSpace(claims.Email)
	emailErr := CheckEmail(email)
	switch {
	case email == "":
		emailErr = errors.New("no email claim")
	case !claims.EmailVerified:
		emailErr = errors.New("email_verified is not true")
	}
	if emailErr == nil {
		ext.Email = email
	}
	switch v.cfg.Claim {
	case ClaimEmail:
		if emailErr != nil {
			return Identity{}, refused(ErrTokenInvalid, "the email claim names no user: "+emailErr.Error())
		}
		ext.Key = NormalizeEmail(email)
	case ClaimSub:
		ext.Key = claims.Subject
	}
	if ext.Key == "" {
		return Identity{}, refused(ErrTokenInvalid, "no "+string(v.cfg.Claim)+" claim")
	}
	if claims.HasGroups {
		groups, err := cleanGroups(claims.Groups)
		if err != nil {
			return Identity{}, refused(ErrTokenInvalid, "claim "+v.cfg.GroupsClaim+": "+err.Error())
		}
		ext.Groups, ext.HasGroups = groups, true
	}
	return Identity{External: &ext, Until: until}, nil
}

// RefusedError is a refused token: Err (ErrTokenInvalid or ErrTokenExpired)
// is all a client is told; Reason is for the log.
type RefusedError struct {
	Err    error
	Reason string
}

func refused(err error, reason string) error { return &RefusedError{Err: err, Reason: reason} }

func (e *RefusedError) Error() string { return e.Err.Error() + ": " + e.Reason }
func (e *RefusedError) Unwrap() error { return e.Err }

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
	// The iss claim by its exact name (a map, not a struct: see
	// issuerClaims).
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return Identity{}, refused(ErrTokenInvalid, "not a JWT: "+err.Error())
	}
	iss, isString := claims["iss"].(string)
	switch {
	case claims["iss"] == nil:
		return v.Own.Verify(token)
	case isString && v.Issuer.Accepts(iss):
		return v.Issuer.Verify(token)
	}
	return Identity{}, refused(ErrTokenInvalid, fmt.Sprintf("issuer %v is not the configured one", claims["iss"]))
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

// cleanGroups sorts and dedupes a token's groups, compared exactly as
// written (no case folding or normalization: a group is an identifier of
// the provider). Empty names are dropped; more than MaxGroups is refused.
func cleanGroups(groups []string) ([]string, error) {
	if len(groups) > MaxGroups {
		return nil, fmt.Errorf("%d groups, more than %d", len(groups), MaxGroups)
	}
	out := slices.DeleteFunc(slices.Clone(groups), func(g string) bool { return g == "" })
	slices.Sort(out)
	return slices.Compact(out), nil
}
