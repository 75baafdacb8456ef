package authz

import (
	"authz-gateway/freshness"
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
	"authz-gateway/ent"
	"authz-gateway/ent/user"
	"authz-gateway/reqctx"
)

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

// ResolveExternal maps an identity provider's caller to a user (by email,
// or by externalId = the token's sub) and resolves that user like
// ResolveViewer. Nobody known: nil, unless provision is set, which is
// asked first (its error, a rate limit, is returned) and then the user is
// created (active, no roles, no scopes) as a logged write. An inactive
// user is nil too.
func (s *Service) ResolveExternal(ctx context.Context, ext auth.External, provision func(context.Context) error) (context.Context, *ent.User, error) {
	hint := string(ext.By) + ":" + ext.Key
	if id, ok := s.hints.get(hint); ok {
		resolved, u, err := s.ResolveViewer(ctx, id)
		if err != nil {
			return ctx, nil, err
		}
		if u != nil && identifies(u, ext) {
			return resolved, u, nil
		}
		s.hints.drop(hint)
	}
	id, err := s.lookupExternal(ctx, ext)
	if err != nil {
		return ctx, nil, err
	}
	if id == 0 && provision != nil {
		if err := provision(ctx); err != nil {
			return ctx, nil, err
		}
		if id, err = s.provisionUser(ctx, ext); err != nil {
			// A concurrent first request may have created them.
			if again, lerr := s.lookupExternal(ctx, ext); lerr == nil && again != 0 {
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
	resolved, u, err := s.ResolveViewer(ctx, id)
	if err != nil || u == nil {
		return ctx, nil, err
	}
	s.hints.put(hint, id)
	return resolved, u, nil
}

// identifies reports whether u is the user ext names.
func identifies(u *ent.User, ext auth.External) bool {
	if ext.By == auth.ClaimSub {
		return u.ExternalID != nil && *u.ExternalID == ext.Key
	}
	return u.Email == ext.Key
}

// lookupExternal finds the user ext names (0: nobody).
func (s *Service) lookupExternal(ctx context.Context, ext auth.External) (int, error) {
	q := s.db.User.Query().Where(user.Email(auth.NormalizeEmail(ext.Key)))
	if ext.By == auth.ClaimSub {
		q = s.db.User.Query().Where(user.ExternalID(ext.Key))
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

// provisionUser creates the user ext names: active, no roles, no scopes,
// logged like every write (operation provisionUser). With the sub claim,
// the sub is the user's externalId and the token's email their email
// when the provider verified it and it is free; otherwise (a service
// account has none) a placeholder under the reserved .invalid domain,
// which no mail reaches.
func (s *Service) provisionUser(ctx context.Context, ext auth.External) (int, error) {
	var created *ent.User
	err := s.mutate(ctx, "provisionUser", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
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
			return freshness.Change{}, badInput("%s", err.Error())
		}
		u, err := create.SetEmail(email).Save(ctx)
		if err != nil {
			return freshness.Change{}, dbError(err, "user")
		}
		created = u
		return freshness.Change{Users: append([]int{u.ID}, catalogChanged...),
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
		if name == "" || firstBad(name) {
			name = strings.TrimSpace(alt)
		}
	}
	for utf8.RuneCountInString(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

func firstBad(s string) bool {
	_, bad := firstForbiddenRune(s, false)
	return bad
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
