package authz_test

import (
	"context"
	"fmt"
	"testing"

	"authz-gateway/access"
	"authz-gateway/cache"
	"authz-gateway/ent"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A GLOBAL user's cached answers say "all": their size does not grow with
// the catalog (before: every ID, 1.1 MB at 100,000 projects), and the counts
// come from the catalog (issue 11).
func TestScale_GlobalAnswersDoNotGrowWithTheCatalog(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	w := testenv.NewWorld(t, g.DB.Client)
	u := w.User("everywhere@test.example")
	w.Role(u, access.RoleViewer)
	w.Global(u)
	sizes := map[int]int{}
	for _, n := range []int{10, 5000} {
		p := w.Program(fmt.Sprintf("P%d", n))
		ctx := reqctx.NewContextWithSystem(context.Background())
		batch := make([]*ent.ProjectCreate, n)
		for i := range batch {
			batch[i] = g.DB.Client.Project.Create().SetName(fmt.Sprintf("p%d", i)).SetProgramID(p)
		}
		require.NoError(t, g.DB.Client.Project.CreateBulk(batch...).Exec(ctx))
		// Written behind the service's back: invalidate what it would have.
		require.NoError(t, g.Cache.Invalidate(ctx, cache.Invalidation{Users: []int{u, cache.CatalogUser}}))
		_, err := g.Authz.Reach(context.Background(), u)
		require.NoError(t, err)
		raw, err := g.Redis.Get(context.Background(), fmt.Sprintf("%saccessible_projects:{%d}", g.Prefix(), u)).Bytes()
		require.NoError(t, err)
		env, err := cache.DecodeEnvelope(raw) // the stamp's length varies: compare the value
		require.NoError(t, err)
		assert.JSONEq(t, `{"all":true}`, string(env.Data))
		sizes[n] = len(env.Data)
		sum := summaryOf(t, g, u)
		assert.Equal(t, g.DB.Client.Project.Query().CountX(reqctx.NewContextWithSystem(context.Background())), sum.AccessibleProjectCount)
	}
	assert.Equal(t, sizes[10], sizes[5000], "the same size at 10 and 5,010 projects: %v", sizes)
}
