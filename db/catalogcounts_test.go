package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counts is catalog_counts as kept, next to the tables counted.
type counts struct{ programs, projects, users, largest int }

func keptCounts(t *testing.T, d *db.DB) counts {
	t.Helper()
	var c counts
	require.NoError(t, d.SQL.QueryRow(`SELECT programs, projects, users,
		(SELECT COALESCE(max(projects), 0) FROM catalog_counts WHERE id > 0) FROM catalog_counts WHERE id = 0`).
		Scan(&c.programs, &c.projects, &c.users, &c.largest))
	return c
}

func countedCounts(t *testing.T, d *db.DB) counts {
	t.Helper()
	var c counts
	require.NoError(t, d.SQL.QueryRow(`SELECT (SELECT count(*) FROM programs), (SELECT count(*) FROM projects),
		(SELECT count(*) FROM users),
		(SELECT COALESCE(max(n), 0) FROM (SELECT count(*) AS n FROM projects GROUP BY program_id) AS p)`).
		Scan(&c.programs, &c.projects, &c.users, &c.largest))
	return c
}

// The catalog's counts stay exact through every kind of write, by ent or
// by SQL, one row or many, and through concurrent writers (who queue on
// the totals' row and never deadlock). Without the triggers they would
// stay at what migration counted.
func TestCatalogCounts_KeptByTriggersThroughEveryWrite(t *testing.T) {
	d := testenv.OpenPostgres(t, db.Options{})
	ctx := reqctx.NewContextWithSystem(context.Background())
	c := d.Client
	same := func(step string) {
		t.Helper()
		assert.Equal(t, countedCounts(t, d), keptCounts(t, d), step)
	}
	same("migrated, empty")

	p1 := c.Program.Create().SetName("P1").SaveX(ctx)
	p2 := c.Program.Create().SetName("P2").SaveX(ctx)
	bulk := make([]*ent.ProjectCreate, 5)
	for i := range bulk {
		bulk[i] = c.Project.Create().SetName(fmt.Sprint("J", i)).SetProgramID(p1.ID)
	}
	projects := c.Project.CreateBulk(bulk...).SaveX(ctx)
	c.Project.Create().SetName("K").SetProgramID(p2.ID).ExecX(ctx)
	c.User.Create().SetEmail("a@test.example").SetName("A").ExecX(ctx)
	same("ent inserts, one and bulk")
	assert.Equal(t, counts{programs: 2, projects: 6, users: 1, largest: 5}, keptCounts(t, d))

	_, err := d.SQL.ExecContext(ctx, `INSERT INTO users (email, name) SELECT 'u' || g || '@test.example', 'U' FROM generate_series(1, 50) g`)
	require.NoError(t, err)
	_, err = d.SQL.ExecContext(ctx, `INSERT INTO projects (name, program_id) SELECT 'L' || g, $1 FROM generate_series(1, 7) g`, p2.ID)
	require.NoError(t, err)
	same("a bulk load by SQL")

	c.Project.DeleteOneID(projects[0].ID).ExecX(ctx)
	_, err = d.SQL.ExecContext(ctx, `DELETE FROM users WHERE email LIKE 'u1%'`)
	require.NoError(t, err)
	same("deletes")

	_, err = d.SQL.ExecContext(ctx, `UPDATE projects SET program_id = $1 WHERE id = $2`, p2.ID, projects[1].ID)
	require.NoError(t, err)
	c.Project.UpdateOneID(projects[2].ID).SetName("renamed").ExecX(ctx)
	same("a project moved, one renamed")

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				program := []int{p1.ID, p2.ID}[(w+i)%2]
				assert.NoError(t, c.Project.Create().SetName(fmt.Sprintf("W%d-%d", w, i)).SetProgramID(program).Exec(ctx))
				assert.NoError(t, c.User.Create().SetEmail(fmt.Sprintf("w%d-%d@test.example", w, i)).SetName("W").Exec(ctx))
			}
		}()
	}
	wg.Wait()
	same("8 concurrent writers")

	require.NoError(t, d.Migrate(ctx))
	same("migrated again (idempotent)")

	_, err = d.SQL.ExecContext(ctx, `TRUNCATE projects CASCADE`)
	require.NoError(t, err)
	same("projects truncated")
	assert.Equal(t, 0, keptCounts(t, d).largest)
}

// A database migrated with the versioned files keeps the counts too, and
// counts what it held before the counts existed.
func TestCatalogCounts_VersionedMigrationCountsWhatIsThere(t *testing.T) {
	d, err := db.Open(testenv.PostgresURL(t), "", db.Options{})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.MigrateVersioned(context.Background())
	require.NoError(t, err)
	ctx := reqctx.NewContextWithSystem(context.Background())
	p := d.Client.Program.Create().SetName("P").SaveX(ctx)
	d.Client.Project.Create().SetName("J").SetProgramID(p.ID).ExecX(ctx)
	assert.Equal(t, counts{programs: 1, projects: 1, users: 0, largest: 1}, keptCounts(t, d))

	// Emptied and filled behind the triggers' back, then migrated again:
	// counted afresh.
	_, err = d.SQL.ExecContext(ctx, `UPDATE catalog_counts SET projects = 99`)
	require.NoError(t, err)
	require.NoError(t, d.Migrate(ctx))
	assert.Equal(t, countedCounts(t, d), keptCounts(t, d))
}
