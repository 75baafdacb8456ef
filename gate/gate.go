// Package gate is the one pipeline every operation passes, whatever carries
// it: an HTTP request to /graphql, and each operation on a graphql-ws socket
// (the upgrade itself spends only its address's budget: LimitUpgrades).
// Admit runs its steps in order: the bearer token is
// verified (signature, expiry), the caller's rate limit is spent (per user
// for a verified token, per client address otherwise), the viewer is
// resolved afresh (active, with the answers that give its permissions and
// reach) and fresh loaders are built. The document limits come next, in the
// GraphQL handler. Nothing an earlier operation learned is reused: a socket
// remembers only its token, and a viewer fired a moment ago is refused on
// the next operation.
package gate

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"authz-gateway/apperr"
	"authz-gateway/auth"
	"authz-gateway/ent"
	"authz-gateway/loaders"
	"authz-gateway/ratelimit"
)

// Credentials are what a caller presents: the Authorization value ("Bearer
// <token>"; empty for an anonymous caller) and the address it calls from.
type Credentials struct {
	Authorization string
	ClientIP      string
}

// Admission is what Admit established about an accepted caller.
type Admission struct {
	// UserID is the viewer (0: anonymous).
	UserID int
	// Until is when the token stops being acceptable (zero: anonymous).
	Until time.Time
}

// Viewers resolves a verified token's user afresh (authz.Service): the
// context it returns carries the viewer and the answers read on the way.
// An unknown or inactive user comes back nil; an error means the answer
// could not be had (database and cache down).
type Viewers interface {
	ResolveViewer(ctx context.Context, userID int) (context.Context, *ent.User, error)
}

// Identities maps an identity provider's caller to a user and resolves that
// user like Viewers (identity.Resolver): nil for nobody known and not
// provisioned, or inactive; a *RateLimitError when provisioning them must
// wait. clientIP is the caller's address, which bounds how fast it may be
// provisioned.
type Identities interface {
	Resolve(ctx context.Context, ext auth.External, clientIP string) (context.Context, *ent.User, error)
}

// ErrUnknownViewer refuses a token whose user does not exist or is
// inactive.
var ErrUnknownViewer = errors.New("unknown or inactive user")

// Config assembles a Gate.
type Config struct {
	// Tokens verifies bearer tokens: the gateway's own and, when an
	// identity provider is configured, the provider's (auth.Verifiers).
	Tokens  auth.Verifier
	Limiter *ratelimit.Limiter // nil or disabled: no rate limit
	Viewers Viewers
	// Identities maps an identity provider's tokens to users (nil: no
	// provider; such tokens never verify then).
	Identities Identities
	// Loaders builds each operation's request loaders (primed with what
	// the viewer's resolution read).
	Loaders *loaders.Factory
}

// Gate admits operations.
type Gate struct{ cfg Config }

// New returns the gate of cfg.
func New(cfg Config) *Gate { return &Gate{cfg: cfg} }

// Admit runs the pipeline for one operation. The context it returns always
// carries fresh loaders; on success it carries the viewer too (none for an
// anonymous caller, whose operation may still run fields that need no
// viewer). The error, when not nil, is coded: UNAUTHENTICATED (a bad token,
// an unknown or inactive user), RATE_LIMITED (a *RateLimitError) or
// UNAVAILABLE.
func (g *Gate) Admit(ctx context.Context, c Credentials) (context.Context, Admission, error) {
	ctx, adm, err := g.admit(ctx, c)
	return g.cfg.Loaders.NewRequestContext(ctx), adm, err
}

func (g *Gate) admit(ctx context.Context, c Credentials) (context.Context, Admission, error) {
	id, authErr := g.verify(c.Authorization)
	// Spent before the token's verdict counts, so a flood of bad tokens
	// is limited too (by address).
	if err := g.spend(ctx, limitKey(id, c.ClientIP)); err != nil {
		return ctx, Admission{}, err
	}
	if authErr != nil {
		return ctx, Admission{}, authErr
	}
	var (
		resolved context.Context
		u        *ent.User
		err      error
	)
	switch {
	case id.External != nil:
		resolved, u, err = g.cfg.Identities.Resolve(ctx, *id.External, c.ClientIP)
	case id.UserID == 0:
		return ctx, Admission{}, nil
	default:
		resolved, u, err = g.cfg.Viewers.ResolveViewer(ctx, id.UserID)
	}
	var limited *RateLimitError
	switch {
	case errors.As(err, &limited):
		return ctx, Admission{}, limited
	case err == nil && u == nil:
		return ctx, Admission{}, apperr.Wrap(apperr.Unauthenticated, ErrUnknownViewer, ErrUnknownViewer.Error())
	case err != nil:
		slog.WarnContext(ctx, "authentication: user lookup failed", "err", err)
		return ctx, Admission{}, apperr.Wrap(apperr.Unavailable, err, "the database is unavailable; try again")
	}
	return resolved, Admission{UserID: u.ID, Until: id.Until}, nil
}

// verify checks the token of an Authorization value: the zero identity and
// no error when there is none.
func (g *Gate) verify(authorization string) (auth.Identity, error) {
	if authorization == "" {
		return auth.Identity{}, nil
	}
	token, ok := auth.BearerToken(authorization)
	if !ok {
		return auth.Identity{}, apperr.Wrap(apperr.Unauthenticated, auth.ErrNotBearer, auth.ErrNotBearer.Error())
	}
	id, err := g.cfg.Tokens.Verify(token)
	if err == nil && id.External != nil && g.cfg.Identities == nil {
		err = auth.ErrTokenInvalid
	}
	if err != nil {
		// The client learns that the token is refused, expired or not; the
		// log says why (which claim, which check), for whoever configures
		// the provider.
		slog.Debug("authentication: token refused", "reason", err)
		msg := auth.ErrTokenInvalid.Error()
		if errors.Is(err, auth.ErrTokenExpired) {
			msg = auth.ErrTokenExpired.Error()
		}
		return auth.Identity{}, apperr.Wrap(apperr.Unauthenticated, err, msg)
	}
	return id, nil
}

// RateLimitError refuses an operation over the caller's budget.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return "rate limit exceeded; retry later" }

// Coded makes the refusal a RATE_LIMITED error for GraphQL responses.
func (e *RateLimitError) Coded() error {
	return apperr.Wrap(apperr.RateLimited, e, e.Error())
}

// limitKey is whose budget an operation spends: the user's for the
// gateway's own token, the provider's identity for a provider's token (the
// user it maps to is not known yet), the address's otherwise.
func limitKey(id auth.Identity, clientIP string) string {
	switch {
	case id.External != nil:
		return "ext:" + string(id.External.By) + ":" + id.External.Key
	case id.UserID != 0:
		return "user:" + strconv.Itoa(id.UserID)
	}
	return "ip:" + clientIP
}

func (g *Gate) spend(ctx context.Context, key string) error {
	l := g.cfg.Limiter
	if l == nil || !l.Enabled() {
		return nil
	}
	if d := l.Allow(ctx, key); !d.Allowed {
		return &RateLimitError{RetryAfter: d.RetryAfter}
	}
	return nil
}

// ClientIP is the address of a remote address "host:port". X-Forwarded-For
// is not trusted: behind a proxy, limits apply per proxy (README, Security).
func ClientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// StillActive reports whether userID is still an active user, read afresh
// like Admit reads it (an open socket asks after every change that may have
// deactivated its viewer). It spends no rate limit: the socket asks, not
// the client.
func (g *Gate) StillActive(ctx context.Context, userID int) (bool, error) {
	_, u, err := g.cfg.Viewers.ResolveViewer(ctx, userID)
	return err == nil && u != nil, err
}
