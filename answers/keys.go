package answers

import (
	"slices"

	"authz-gateway/access"
)

// reachKinds are the four authorization answers a reach is built from.
var reachKinds = []Kind{KindPermissions, KindAccessiblePrograms, KindAccessibleProjects, KindScopeSummary}

// IsReachKind reports whether kind is one of a user's four reach answers.
func IsReachKind(kind Kind) bool { return slices.Contains(reachKinds, kind) }

// ReachKeys are the keys of a user's four authorization answers.
func ReachKeys(userID int) []Key { return keysOf(userID, reachKinds) }

// ViewerKeys are the keys a request fetches for its viewer, in one round
// trip: the four answers and the user's status (authentication).
func ViewerKeys(userID int) []Key { return keysOf(userID, append(slices.Clip(reachKinds), KindUser)) }

func keysOf(userID int, kinds []Kind) []Key {
	keys := make([]Key, len(kinds))
	for i, kind := range kinds {
		keys[i] = Key{Kind: kind, UserID: userID}
	}
	return keys
}

// ReachFromAnswers assembles a reach from the answers of ReachKeys(userID).
func ReachFromAnswers(userID int, answers map[Key]Answer) access.Reach {
	at := func(kind Kind) Answer { return answers[Key{Kind: kind, UserID: userID}] }
	summary := at(KindScopeSummary).Summary
	return access.Reach{
		Permissions:    at(KindPermissions).Permissions,
		Global:         summary.HasGlobalScope,
		Programs:       at(KindAccessiblePrograms).IDs,
		Projects:       at(KindAccessibleProjects).IDs,
		ScopedPrograms: scopedTargets(summary.DirectScopes, func(d DirectScope) *int { return d.ProgramID }),
		ScopedProjects: scopedTargets(summary.DirectScopes, func(d DirectScope) *int { return d.ProjectID }),
	}
}

// scopedTargets are the programs (or projects) the direct scopes name,
// ascending.
func scopedTargets(direct []DirectScope, target func(DirectScope) *int) []int {
	var ids []int
	for _, d := range direct {
		if id := target(d); id != nil {
			ids = append(ids, *id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
