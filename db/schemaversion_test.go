package db_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"authz-gateway/db"
	"authz-gateway/ent/migrate"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded migrations create exactly the schema ent describes: a
// database migrated with the files has nothing left for ent's automatic
// migration to change (make generate writes a new file for any change of
// ent/schema; TestGeneratedCodeIsUpToDate fails when one is missing).
func TestMigrations_CreateTheSchemaEntDescribes(t *testing.T) {
	d, err := db.Open(testenv.PostgresURL(t), "", db.Options{})
	require.NoError(t, err)
	defer d.Close()
	migrated, err := d.MigrateVersioned(context.Background())
	require.NoError(t, err)
	require.True(t, migrated)
	var diff strings.Builder
	require.NoError(t, d.Client.Schema.WriteTo(context.Background(), &diff, migrate.WithGlobalUniqueID(true)))
	for _, line := range strings.Split(diff.String(), "\n") {
		// Partial indexes' WHERE clauses read back from PostgreSQL in its
		// own spelling, so ent's online diff always recreates them.
		if line == "" || line == "BEGIN;" || line == "COMMIT;" || strings.Contains(line, "scope_unique_") {
			continue
		}
		t.Errorf("ent would still change the migrated schema: %s", line)
	}
}

// Five instances starting at once on an empty database: all succeed, and the
// schema is migrated once.
func TestMigrate_InstancesStartingTogetherMigrateOnce(t *testing.T) {
	url := testenv.PostgresURL(t)
	var wg sync.WaitGroup
	migrated := make(chan bool, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := db.Open(url, "", db.Options{})
			if !assert.NoError(t, err) {
				return
			}
			defer d.Close()
			m, err := d.MigrateVersioned(context.Background())
			assert.NoError(t, err)
			migrated <- m
		}()
	}
	wg.Wait()
	close(migrated)
	applied := 0
	for m := range migrated {
		if m {
			applied++
		}
	}
	assert.Equal(t, 1, applied, "one instance migrated, the others found the schema current")

	d, err := db.Open(url, "", db.Options{})
	require.NoError(t, err)
	defer d.Close()
	var rows int
	require.NoError(t, d.SQL.QueryRow(`SELECT count(*) FROM atlas_schema_revisions`).Scan(&rows))
	assert.Positive(t, rows, "the files applied are recorded")
	require.NoError(t, d.CheckVersion(context.Background()))
}

// An older binary refuses a database a newer one migrated, with a message
// that says what to do.
func TestMigrate_OlderBinaryRefusesANewerSchema(t *testing.T) {
	url := testenv.PostgresURL(t)
	d, err := db.Open(url, "", db.Options{})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.MigrateVersioned(context.Background())
	require.NoError(t, err)
	// A newer binary applied a migration this one does not have.
	_, err = d.SQL.Exec(`INSERT INTO atlas_schema_revisions (version, revision) VALUES ('99991231235959', '{"Version": "99991231235959"}')`)
	require.NoError(t, err)

	_, err = d.MigrateVersioned(context.Background())
	var newer db.ErrNewerSchema
	require.ErrorAs(t, err, &newer)
	assert.Contains(t, err.Error(), "newer than this binary's")
	assert.Contains(t, err.Error(), "run a newer authz-gateway")
	assert.ErrorAs(t, d.CheckVersion(context.Background()), &newer)
}
