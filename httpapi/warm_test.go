package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
)

// TestWarm_NoSQLForEveryViewerKind: a warm request for the viewer's lists
// runs no SQL, whatever the viewer's scope: a GLOBAL viewer's "every
// program" is the catalog's own list, one shared cached answer (it was one
// `SELECT id FROM programs` per request). A catalog change shows at once.
func TestWarm_NoSQLForEveryViewerKind(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	apollo, gemini := w.Program("Apollo"), w.Program("Gemini")
	lander := w.Project(apollo, "Lander")
	w.Project(gemini, "Rendezvous")
	viewers := map[string]int{}
	for kind, scope := range map[string]func(int){
		"GLOBAL":  func(u int) { w.Global(u) },
		"PROGRAM": func(u int) { w.InProgram(u, apollo) },
		"PROJECT": func(u int) { w.InProject(u, lander) },
	} {
		u := w.User(strings.ToLower(kind) + "@test.example")
		w.Role(u, access.RoleViewer)
		scope(u)
		viewers[kind] = u
	}
	const lists = `{ me { permissions accessiblePrograms { id } accessibleProjects { id } scopeSummary { accessibleProgramCount } } }`
	for kind, u := range viewers {
		token := g.Token(t, u)
		testenv.MustOK(t, g.Do(t, token, lists, nil))
		g.SQL.Reset()
		testenv.MustOK(t, g.Do(t, token, lists, nil))
		assert.Zero(t, g.SQL.Count(), "%s viewer, warm: %v", kind, g.SQL.Statements())
	}

	var created struct{ CreateProgram struct{ ID string } }
	testenv.MustOK(t, g.Do(t, g.Token(t, g.Admin.ID), `mutation { createProgram(input: {name: "Mercury"}) { id } }`, nil)).Decode(t, &created)
	var got struct {
		Me struct{ AccessiblePrograms []struct{ ID string } }
	}
	testenv.MustOK(t, g.Do(t, g.Token(t, viewers["GLOBAL"]), lists, nil)).Decode(t, &got)
	ids := []string{}
	for _, p := range got.Me.AccessiblePrograms {
		ids = append(ids, p.ID)
	}
	assert.Equal(t, []string{fmt.Sprint(apollo), fmt.Sprint(gemini), created.CreateProgram.ID}, ids, "the new program, at once")
}
