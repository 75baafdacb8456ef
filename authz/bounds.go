package authz

import (
	"authz-gateway/answers"
	"context"
)

// ListBounds are the most items each kind of list can hold: the cost limit
// prices a list without `first` by them, so that no accepted document can
// build more than the limit.
type ListBounds struct {
	// The catalog: every program, project and user, and the projects of
	// the largest program.
	Programs, Projects, Users, LargestProgram int
	// The viewer's own lists (the fields of `me`): their actual lengths.
	ViewerPrograms, ViewerProjects, ViewerScopes int
}

// unknownBound prices a list whose size nobody can tell (a catalog answer
// cached before the users were counted): high, so the guess errs on the
// side of refusing.
const unknownBound = 100_000

// ViewerListBounds reads the bounds from the request's viewer answers (the
// catalog's size comes with them, in the same round trip). ok is false
// without a viewer, or when the answers cannot be had.
func ViewerListBounds(ctx context.Context) (b ListBounds, ok bool) {
	v := viewerAnswersFrom(ctx)
	if v == nil {
		return ListBounds{}, false
	}
	got, err := v.get(ctx)
	if err != nil {
		return ListBounds{}, false
	}
	c := got[answers.CatalogKey].Catalog
	b = ListBounds{Programs: c.Programs, Projects: c.Projects, Users: c.Users, LargestProgram: c.LargestProgram}
	if b.Users == 0 {
		b.Users = unknownBound
	}
	if b.LargestProgram == 0 {
		b.LargestProgram = b.Projects
	}
	count := func(kind answers.Kind, all int) int {
		if a := got[answers.Key{Kind: kind, UserID: v.userID}]; !a.All {
			return len(a.IDs)
		}
		return all
	}
	b.ViewerPrograms = count(answers.KindAccessiblePrograms, b.Programs)
	b.ViewerProjects = count(answers.KindAccessibleProjects, b.Projects)
	b.ViewerScopes = len(got[answers.Key{Kind: answers.KindScopeSummary, UserID: v.userID}].Summary.DirectScopes)
	return b, true
}
