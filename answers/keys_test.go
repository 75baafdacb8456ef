package answers

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// wholeReach adds to any keys the other reach answers of every user they
// name one of, once, whichever way it counts (scanning a request's few
// keys, hashing a batch): both agree with the rule on random key sets.
func TestWholeReach_AddsEachUsersOtherReachAnswersOnce(t *testing.T) {
	kinds := []Kind{KindPermissions, KindAccessiblePrograms, KindAccessibleProjects, KindScopeSummary, KindUser, KindCatalogSize}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		var keys []Key
		for range 1 + r.IntN(40) {
			user := 1 + r.IntN(6)
			kind := kinds[r.IntN(len(kinds))]
			if kind == KindCatalogSize {
				user = CatalogUser
			}
			if k := (Key{Kind: kind, UserID: user}); !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		want := map[Key]bool{}
		for _, k := range keys {
			want[k] = true
			if k.UserID != CatalogUser && IsReachKind(k.Kind) {
				for _, kind := range reachKinds {
					want[Key{Kind: kind, UserID: k.UserID}] = true
				}
			}
		}
		for name, got := range map[string][]Key{"scan": wholeReachSmall(keys), "chosen": wholeReach(keys)} {
			assert.Len(t, got, len(want), "round %d, %s: no key twice", round, name)
			assert.Equal(t, keys, got[:len(keys)], "round %d, %s: the asked keys first, in order", round, name)
			for _, k := range got {
				assert.True(t, want[k], "round %d, %s: %v", round, name, k)
			}
			if t.Failed() {
				t.Fatal(fmt.Sprint(keys))
			}
		}
	}
	viewer := ViewerKeys(7)
	assert.Equal(t, viewer, wholeReach(viewer), "a viewer's keys are whole already")
	assert.Zero(t, testing.AllocsPerRun(100, func() { wholeReach(viewer) }), "and cost no allocation")
}
