package testenv

import "testing"

// Slow skips t under -short (`make check`, the edit-test loop) and says
// why; `make test` runs it. For the tests that start browsers, identity
// providers, image builds or minutes-long schedules.
func Slow(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s: skipped by -short (make check); make test runs it", why)
	}
}
