package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"authz-gateway/answers"
	"authz-gateway/ent"
	"authz-gateway/ent/team"
	"authz-gateway/ent/teammembership"
	"authz-gateway/freshness"
	"authz-gateway/reqctx"
)

// SyncGroups makes a user's memberships of the teams that mirror an
// identity provider's group (Team.externalGroup) follow a token's groups
// claim (AUTH_GROUPS_CLAIM): a membership (active, no end) for each group
// with a team, none for a mirrored group the claim lacks; a group no team
// mirrors is ignored. ctx is the request's, resolved for the user
// (ResolveViewer): its memo holds the user's groups and the mirrored ones
// (the catalog's answer), so a claim that agrees costs no write, no SQL
// and no round trip. One that differs is one logged write by the gateway
// (operation syncTeamGroups, naming the provider), after which the
// request reads the user afresh. It reports whether it wrote.
//
// The provider is trusted by configuration; the rule that no write confers
// more than its author holds was applied when the team was pointed at the
// group (updateTeam, createTeam).
func (s *Service) SyncGroups(ctx context.Context, userID int, claim []string, provider string) (bool, error) {
	v := viewerAnswersFrom(ctx)
	if v == nil || v.userID != userID {
		return false, fmt.Errorf("sync groups of user %d: the request is not resolved for them", userID)
	}
	got, err := v.get(ctx)
	if err != nil {
		return false, err
	}
	mirrored := got[answers.CatalogKey].Catalog.Groups
	mine := got[answers.Key{Kind: answers.KindUser, UserID: userID}].User.Groups
	var want []string
	for _, g := range claim {
		if _, ok := slices.BinarySearch(mirrored, g); ok {
			want = append(want, g)
		}
	}
	if slices.Equal(want, mine) {
		return false, nil
	}
	add, remove := difference(want, mine), difference(mine, want)
	// The gateway writes, not the user the request is resolved for: the
	// entry's actor is null (the gateway), its target names the provider.
	err = s.log.Commit(reqctx.NewContextWithSystem(context.Background()), "syncTeamGroups", func(ctx context.Context, tx *ent.Tx) (freshness.Change, error) {
		teams, err := tx.Team.Query().Where(team.ExternalGroupIn(append(slices.Clone(add), remove...)...)).All(ctx)
		if err != nil {
			return freshness.Change{}, dbError(err, "teams")
		}
		var added, removed []string
		for _, t := range teams {
			switch group := *t.ExternalGroup; {
			case slices.Contains(add, group):
				if err := checkTeamsOfUser(ctx, tx, userID, t.ID); err != nil {
					slog.WarnContext(ctx, "identity provider: group not mirrored, the user is in too many teams", "user", userID, "group", group)
					continue
				}
				if _, err := setMembership(ctx, tx, t.ID, userID, nil); err != nil {
					return freshness.Change{}, err
				}
				added = append(added, group)
			default:
				if _, err := tx.TeamMembership.Delete().Where(teammembership.TeamID(t.ID), teammembership.UserID(userID)).Exec(ctx); err != nil {
					return freshness.Change{}, dbError(err, "team membership")
				}
				removed = append(removed, group)
			}
		}
		if len(added) == 0 && len(removed) == 0 {
			// Nothing to write after all (the teams went away meanwhile, or
			// the user is in too many): no entry either.
			return freshness.Change{}, errNothingToSync
		}
		return freshness.Change{Users: []int{userID}, Target: fmt.Sprintf("user %d: teams of groups from %s (added %s; removed %s)",
			userID, provider, listOrNone(added), listOrNone(removed))}, nil
	})
	if errors.Is(err, errNothingToSync) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sync groups of user %d: %w", userID, err)
	}
	forgetViewer(ctx)
	return true, nil
}

// errNothingToSync rolls back a sync that found nothing to change.
var errNothingToSync = errors.New("nothing to sync")

// difference returns the elements of a (sorted) that b (sorted) lacks.
func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
		}
	}
	return out
}

func listOrNone(groups []string) string {
	if len(groups) == 0 {
		return "none"
	}
	return strings.Join(groups, ", ")
}
