package authz

import (
	"context"
	"fmt"

	"authz-gateway/ent"
	"authz-gateway/ent/team"
	"authz-gateway/freshness"
)

// A role or scope assignment is held by a user or by a team (exactly one).
// What a change of it affects follows its holder: the user, or every
// member of the team, found when the change is delivered.

// affected collects the holders a write touches.
type affected struct{ users, teams []int }

// heldBy is the holder of an assignment: userID or teamID, the other zero.
func heldBy(userID, teamID int) affected {
	if teamID != 0 {
		return affected{teams: []int{teamID}}
	}
	return affected{users: []int{userID}}
}

// and adds o's holders.
func (a affected) and(o affected) affected {
	return affected{users: freshness.Union(a.users, o.users), teams: freshness.Union(a.teams, o.teams)}
}

// change is the log's change for these holders.
func (a affected) change() freshness.Change {
	return freshness.Change{Users: a.users, Teams: a.teams}
}

// holderName names an assignment's holder in the log: "user 5", "team 7".
func holderName(userID, teamID *int) string {
	if teamID != nil {
		return fmt.Sprintf("team %d", *teamID)
	}
	return fmt.Sprintf("user %d", deref(userID))
}

// holderExists is NOT_FOUND when the holder does not exist.
func holderExists(ctx context.Context, tx *ent.Tx, userID, teamID int) error {
	if teamID != 0 {
		return mustExist(ctx, tx.Team.Query().Where(team.ID(teamID)).Exist, "team")
	}
	return userExists(ctx, tx, userID)
}

// nonZero is nil for 0 (an ID not given), else a pointer to id.
func nonZero(id int) *int {
	if id == 0 {
		return nil
	}
	return &id
}

// deref is *p, or 0 for nil.
func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
