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

// add notes the holder of one assignment: userID or teamID, the other
// zero.
func (a *affected) add(userID, teamID int) {
	if teamID != 0 {
		a.teams = append(a.teams, teamID)
	} else {
		a.users = append(a.users, userID)
	}
}

// heldBy is the holder of one assignment.
func heldBy(userID, teamID int) affected {
	var a affected
	a.add(userID, teamID)
	return a
}

// change is the log's change for these holders.
func (a affected) change() freshness.Change {
	return freshness.Change{Users: a.users, Teams: a.teams}
}

// holderRow is an assignment's holder columns, as a query selects them.
type holderRow struct {
	UserID *int `json:"user_id"`
	TeamID *int `json:"team_id"`
}

// holdersOf collects the holders of rows.
func holdersOf(rows []holderRow) affected {
	var a affected
	for _, r := range rows {
		a.add(deref(r.UserID), deref(r.TeamID))
	}
	return a
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
