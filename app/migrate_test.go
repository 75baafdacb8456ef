package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"authz-gateway/app"
	"authz-gateway/db"
	"authz-gateway/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fleetConfig(t *testing.T, databaseURL string) app.Config {
	t.Helper()
	cfg, err := app.LoadConfig(func(string) string { return "" })
	require.NoError(t, err)
	_, prefix := testenv.Redis(t)
	cfg.DatabaseURL, cfg.JWTSecret, cfg.AdminEmail, cfg.SeedDemo = databaseURL, string(testenv.Secret), testenv.AdminEmail, false
	cfg.Redis.URL, cfg.CachePrefix = testenv.RedisURL(), prefix
	return cfg
}

// Five gateways started at once on an empty PostgreSQL database all become
// ready, and every migration file is applied once.
func TestFleet_FiveInstancesStartTogetherOnAnEmptyDatabase(t *testing.T) {
	cfg := fleetConfig(t, testenv.PostgresURL(t))
	var wg sync.WaitGroup
	apps := make([]*app.App, 5)
	errs := make([]error, 5)
	for i := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			apps[i], errs[i] = app.New(context.Background(), cfg)
		}()
	}
	wg.Wait()
	for i, a := range apps {
		if !assert.NoError(t, errs[i], "instance %d", i) {
			continue
		}
		t.Cleanup(a.Close)
		// Ready as a readiness probe sees it: the cache's first warming
		// runs after the start (app.New returns before it), so asked at
		// once /readyz may still say "warming".
		var last string
		assert.Eventually(t, func() bool {
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			last = rec.Body.String()
			return rec.Code == http.StatusOK
		}, 10*time.Second, 20*time.Millisecond, "instance %d ready", i)
		assert.NotContains(t, last, "unavailable", "instance %d", i)
	}
	require.NotNil(t, apps[0])
	var versions, applied int
	require.NoError(t, apps[0].DB().SQL.QueryRow(`SELECT count(*), count(DISTINCT version) FROM atlas_schema_revisions`).Scan(&applied, &versions))
	assert.Equal(t, versions, applied, "each migration applied once")
	assert.Positive(t, applied)
}

// A binary older than its database refuses to start, saying what to do.
func TestFleet_OlderBinaryRefusesANewerDatabase(t *testing.T) {
	url := testenv.PostgresURL(t)
	d, err := db.Open(url, "", db.Options{})
	require.NoError(t, err)
	defer d.Close()
	_, err = d.MigrateVersioned(context.Background())
	require.NoError(t, err)
	_, err = d.SQL.Exec(`INSERT INTO atlas_schema_revisions (version, revision) VALUES ('99991231235959', '{"Version": "99991231235959"}')`)
	require.NoError(t, err)

	_, err = app.New(context.Background(), fleetConfig(t, url))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer than this binary's")
	assert.Contains(t, err.Error(), "run a newer authz-gateway")
}
