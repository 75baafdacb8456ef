package answers

import (
	"context"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDirectScopes_ShowTheEndExactly: issue 31, finding 10. A time-bound
// scope's end read back 1 ms early on SQLite (the answer's safety margin
// was shown as the end). The answer's own end stays at or before the
// assignment's; the shown end is the assignment's, on both databases.
func TestDirectScopes_ShowTheEndExactly(t *testing.T) {
	for name, d := range openBoth(t) {
		t.Run(name, func(t *testing.T) {
			ctx := reqctx.NewContextWithSystem(context.Background())
			u := d.Client.User.Create().SetEmail("ends@test.example").SetName("Ends").SaveX(ctx)
			r := resolver{db: d.Client, dialect: d.Dialect}
			for i, offset := range []time.Duration{time.Hour, time.Hour + 123*time.Millisecond, 2*time.Hour + 999*time.Millisecond} {
				end := time.Now().Truncate(time.Second).Add(offset).UTC()
				p := d.Client.Program.Create().SetName("p" + string(rune('a'+i))).SaveX(ctx)
				d.Client.ScopeAssignment.Create().SetUserID(u.ID).SetScopeType(access.ScopeProgram).SetProgramID(p.ID).SetExpiresAt(end).SaveX(ctx)
				got, until, err := r.directScopes(ctx, []int{u.ID})
				require.NoError(t, err)
				shown := got[u.ID][len(got[u.ID])-1].ExpiresAt
				require.NotNil(t, shown)
				assert.Equal(t, end, *shown, "shown exactly")
				assert.False(t, until.at(u.ID).After(end), "the answer ends no later than the assignment")
			}
		})
	}
}
