// Package identity maps an identity provider's callers to users (the
// gate's Identities step): by their email or by their subject
// (externalId), remembered per instance so that a warm request runs no
// SQL, and, with AUTH_PROVISION, creates the users it does not know, at a
// bounded pace (provision.go), as writes committed through the
// access-change log.
package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode/utf8"

	"authz-gateway/apperr"
	"authz-gateway/auth"
	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/ent/user"
	"authz-gateway/freshness"
	"authz-gateway/gate"
	"authz-gateway/reqctx"
)

// Config assembles a Resolver.
type Config struct {
	DB *ent.Client
	// Viewers resolves the user a caller maps to, as any viewer.
	Viewers gate.Viewers
	// Log is the access-change log provisioning commits through.
	Log *freshness.Log
	// Provision creates unknown callers as users (AUTH_PROVISION), each
	// first spending Pace's budget of the caller's address and of Issuer.
	Provision bool
	Pace      Pacer
	Issuer    string
	// Groups, when set (AUTH_GROUPS_CLAIM), makes each provider token's
	// groups decide the caller's memberships of the teams that mirror a
	// group.
	Groups GroupSync
}

// GroupSync makes a user's memberships of group-mirroring teams follow a
// token's groups (authz.Service.SyncGroups); resolved is the request's
// context, resolved for the user. It reports whether it wrote.
type GroupSync interface {
	SyncGroups(resolved context.Context, userID int, groups []string, provider string) (bool, error)
}

// Pacer bounds how fast unknown callers become users (Provisioning).
type Pacer interface {
	Allow(ctx context.Context, issuer, clientIP string) error
}

// Resolver maps an identity provider's callers to users.
type Resolver struct {
	cfg   Config
	hints identityHints // callers -> users
}

// New returns the resolver of cfg.
func New(cfg Config) *Resolver { return &Resolver{cfg: cfg} }

var _ gate.Identities = (*Resolver)(nil)

// maxIdentityHints bounds the identity-to-user memory of an instance.
const maxIdentityHints = 100_000

// identityHints remembers which user an identity provider's caller mapped
// to, so a warm request runs no SQL. A hint is only a guess: every use
// checks it against the user's status as the cache serves it (fresh after
// every write, like every answer), so a changed email or externalId shows
// at once and the hint is dropped.
type identityHints struct {
	mu sync.RWMutex
	m  map[string]int
}

func (h *identityHints) get(key string) (int, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	id, ok := h.m[key]
	return id, ok
}

func (h *identityHints) put(key string, id int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxIdentityHints {
		h.m = make(map[string]int)
	}
	h.m[key] = id
}

func (h *identityHints) drop(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}

// Resolve maps an identity provider's caller to a user (by email, or by
// externalId = the token's sub) and resolves that user like a viewer
// (gate.Viewers). Nobody known: nil, unless provisioning is on, which
// spends the caller's pace first (a *gate.RateLimitError when spent) and
// then creates the user (active, no roles, no scopes) as a logged write.
// An inactive user is nil too.
func (r *Resolver) Resolve(ctx context.Context, ext auth.External, clientIP string) (context.Context, *ent.User, error) {
	hint := string(ext.By) + ":" + ext.Key
	if id, ok := r.hints.get(hint); ok {
		resolved, u, err := r.cfg.Viewers.ResolveViewer(ctx, id)
		if err != nil {
			return ctx, nil, err
		}
		if u != nil && identifies(u, ext) {
			return resolved, u, r.syncGroups(resolved, u, ext)
		}
		r.hints.drop(hint)
	}
	id, err := r.lookup(ctx, ext)
	if err != nil {
		return ctx, nil, err
	}
	if id == 0 && r.cfg.Provision {
		if err := r.cfg.Pace.Allow(ctx, r.cfg.Issuer, clientIP); err != nil {
			return ctx, nil, err
		}
		if id, err = r.provision(ctx, ext); err != nil {
			// A concurrent first request may have created them.
			if again, lerr := r.lookup(ctx, ext); lerr == nil && again != 0 {
				id, err = again, nil
			}
		}
		if apperr.CodeOf(err) == apperr.BadUserInput {
			// The token's claims make no valid user (an email that is not
			// one, say): nobody to sign in, not an outage.
			slog.WarnContext(ctx, "identity provider: cannot provision the token's user", "err", err)
			return ctx, nil, nil
		}
		if err != nil {
			return ctx, nil, err
		}
	}
	if id == 0 {
		return ctx, nil, nil
	}
	resolved, u, err := r.cfg.Viewers.ResolveViewer(ctx, id)
	if err != nil || u == nil {
		return ctx, nil, err
	}
	r.hints.put(hint, id)
	return resolved, u, r.syncGroups(resolved, u, ext)
}

// syncGroups lets the token's groups decide the user's memberships of the
// teams that mirror a group, when configured and the token carries the
// claim. A sync that cannot be written fails the request: a group taken
// away by the provider must not keep its team's access for a request.
func (r *Resolver) syncGroups(resolved context.Context, u *ent.User, ext auth.External) error {
	if r.cfg.Groups == nil || !ext.HasGroups {
		return nil
	}
	if _, err := r.cfg.Groups.SyncGroups(resolved, u.ID, ext.Groups, r.cfg.Issuer); err != nil {
		return fmt.Errorf("identity provider: groups of user %d: %w", u.ID, err)
	}
	return nil
}

// identifies reports whether u is the user ext names.
func identifies(u *ent.User, ext auth.External) bool {
	if ext.By == auth.ClaimSub {
		return u.ExternalID != nil && *u.ExternalID == ext.Key
	}
	return u.Email == ext.Key
}

// lookup finds the user ext names (0: nobody).
func (r *Resolver) lookup(ctx context.Context, ext auth.External) (int, error) {
	q := r.cfg.DB.User.Query().Where(user.Email(auth.NormalizeEmail(ext.Key)))
	if ext.By == auth.ClaimSub {
		q = r.cfg.DB.User.Query().Where(user.ExternalID(ext.Key))
	}
	// The gateway reads for itself here: nobody is the viewer yet.
	id, err := q.OnlyID(reqctx.NewContextWithSystem(ctx))
	switch {
	case ent.IsNotFound(err):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("find the identity provider's user: %w", err)
	}
	return id, nil
}

// provision creates the user ext names: active, no roles, no scopes,
// committed through the access-change log like every write (operation
// provisionUser; a new user changes the catalog's size, kept under
// cache.CatalogUser). With the sub claim,
// the sub is the user's externalId and the token's email their email
// when the provider verified it and it is free; otherwise (a service
// account has none) a placeholder under the reserved .invalid domain,
// which no mail reaches.
func (r *Resolver) provision(ctx context.Context, ext auth.External) (int, error) {
	var created *ent.User
	err := r.cfg.Log.Commit(ctx, "provisionUser", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		create := tx.User.Create().SetName(provisionedName(ext))
		email := auth.NormalizeEmail(ext.Email)
		if ext.By == auth.ClaimSub {
			create.SetExternalID(ext.Key)
			if taken, err := tx.User.Query().Where(user.Email(email)).Exist(ctx); err != nil || taken || email == "" {
				if err != nil {
					return freshness.Change{}, fmt.Errorf("provision: is the email free: %w", err)
				}
				email = placeholderEmail(ext.Key)
			}
		} else {
			email = ext.Key
		}
		if err := auth.CheckEmail(email); err != nil {
			return freshness.Change{}, apperr.Wrap(apperr.BadUserInput, err, err.Error())
		}
		u, err := create.SetEmail(email).Save(ctx)
		if ent.IsValidationError(err) || ent.IsConstraintError(err) {
			return freshness.Change{}, apperr.Wrap(apperr.BadUserInput, err, "the token's claims make no valid user")
		}
		if err != nil {
			return freshness.Change{}, err
		}
		created = u
		return freshness.Change{Users: []int{u.ID, cache.CatalogUser},
			Target: fmt.Sprintf("user %d (%s): provisioned from the identity provider", u.ID, u.Email)}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("provision user: %w", err)
	}
	return created.ID, nil
}

// provisionedName is the token's name, else its email, else its subject,
// cut to the 200 characters a name may have.
func provisionedName(ext auth.External) string {
	name := strings.TrimSpace(ext.Name)
	for _, alt := range []string{ext.Email, ext.Subject, ext.Key} {
		if _, bad := auth.FirstInvisible(name); name == "" || bad {
			name = strings.TrimSpace(alt)
		}
	}
	for utf8.RuneCountInString(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

// placeholderEmail is a service account's stand-in address: its subject,
// kept to the characters an address's local part takes plainly, and a
// digest of the whole subject, so two subjects that read alike ("svc|x",
// "svc-x") never share one.
func placeholderEmail(sub string) string {
	local := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, sub)
	for strings.Contains(local, "..") {
		local = strings.ReplaceAll(local, "..", ".")
	}
	local = strings.Trim(local, ".")
	if len(local) > 48 {
		local = local[:48]
	}
	if local == "" {
		local = "service"
	}
	digest := sha256.Sum256([]byte(sub))
	return local + "-" + hex.EncodeToString(digest[:5]) + "@idp.invalid"
}
