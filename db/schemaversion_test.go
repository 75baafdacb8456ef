package db_test

import (
	"context"
	"sync"
	"testing"

	"authz-gateway/db"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The schema version is bumped with the schema: a change of ent/schema
// fails here until SchemaVersion (and the fingerprint beside it) move.
func TestSchemaVersion_MatchesTheSchema(t *testing.T) {
	assert.Equal(t, db.SchemaFingerprint, db.SchemaFingerprintOf(),
		"ent/schema changed: bump db.SchemaVersion and set db.SchemaFingerprint to the new fingerprint")
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
	require.NoError(t, d.SQL.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&rows))
	assert.Equal(t, 1, rows)
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
	_, err = d.SQL.Exec(`INSERT INTO schema_migrations (version, fingerprint, applied_by) VALUES ($1, 'newer', 'a newer binary')`, db.SchemaVersion+1)
	require.NoError(t, err)

	_, err = d.MigrateVersioned(context.Background())
	var newer db.ErrNewerSchema
	require.ErrorAs(t, err, &newer)
	assert.Contains(t, err.Error(), "newer than this binary's")
	assert.Contains(t, err.Error(), "run a newer authz-gateway")
	assert.ErrorAs(t, d.CheckVersion(context.Background()), &newer)
}
