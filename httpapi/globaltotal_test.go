package httpapi_test

import (
	"fmt"
	"testing"

	"authz-gateway/access"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
)

// A GLOBAL viewer's totalCount of programs and projects comes from their
// cached scope summary: no request of theirs reads a list of accessible
// IDs (for a GLOBAL viewer, the catalog's whole list: 100,000 IDs decoded
// per page at 100x), and the count is exact right after the catalog
// changes.
func TestTotalCount_GlobalViewerReadsNoIDList(t *testing.T) {
	// Without the L1, every answer read is a store lookup, counted by kind.
	g := testenv.NewGateway(t, testenv.Options{NoL1: true})
	w := testenv.NewWorld(t, g.DB.Client)
	apollo := w.Program("Apollo")
	w.Project(apollo, "Lander")
	w.Project(apollo, "Orbiter")
	viewer := w.User("global@test.example")
	w.Role(viewer, access.RoleViewer)
	w.Global(viewer)
	token, admin := g.Token(t, viewer), g.Token(t, g.Admin.ID)
	const totals = `{ programs(first: 1) { totalCount } projects(first: 1) { totalCount } }`
	var got struct {
		Programs, Projects struct{ TotalCount int }
	}
	testenv.MustOK(t, g.Do(t, token, totals, nil)) // warm

	lists := func() float64 {
		n := 0.0
		for _, kind := range []string{"accessible_programs", "accessible_projects"} {
			for _, result := range []string{"hit", "miss", "stale"} {
				v, _ := g.Metric(fmt.Sprintf(`authz_cache_lookups_total{kind=%q,result=%q}`, kind, result))
				n += v
			}
		}
		return n
	}
	before := lists()
	testenv.MustOK(t, g.Do(t, token, totals, nil)).Decode(t, &got)
	assert.Equal(t, 1, got.Programs.TotalCount)
	assert.Equal(t, 2, got.Projects.TotalCount)
	// The viewer's own two lists ("all": what the gate resolves the
	// viewer's reach from); reading the catalog's two ID lists as well made
	// it 4.
	assert.Equal(t, 2.0, lists()-before, "ID-list lookups of one request")

	var created struct{ CreateProject struct{ ID string } }
	testenv.MustOK(t, g.Do(t, admin, fmt.Sprintf(`mutation { createProject(input: {name: "Probe", programID: "%d"}) { id } }`, apollo), nil)).Decode(t, &created)
	testenv.MustOK(t, g.Do(t, token, totals, nil)).Decode(t, &got)
	assert.Equal(t, 3, got.Projects.TotalCount, "the new project, at once")
	testenv.MustOK(t, g.Do(t, admin, `mutation($id: ID!) { deleteProject(id: $id) }`, map[string]any{"id": created.CreateProject.ID}))
	testenv.MustOK(t, g.Do(t, token, totals, nil)).Decode(t, &got)
	assert.Equal(t, 2, got.Projects.TotalCount, "and gone, at once")
}
