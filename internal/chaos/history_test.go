package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The checker's negative control: histories with a stale read, a torn
// answer and reads out of order are caught; a correct one passes.
func TestCheck_CatchesWhatItShould(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	write := func(call, ret int, v bool) Op {
		return Op{Write: true, User: 1, Call: at(call), Return: at(ret), Value: v, OK: true}
	}
	read := func(call, ret int, v bool) Op {
		return Op{User: 1, Call: at(call), Return: at(ret), Value: v, OK: true}
	}
	initial := map[int]bool{1: true}

	ok := Check([]Op{write(10, 20, false), read(0, 5, true), read(12, 18, true), read(12, 18, false), read(25, 30, false)}, initial)
	assert.Empty(t, ok.Stale)
	assert.Equal(t, 4, ok.Reads)
	assert.Equal(t, 1, ok.Writes)

	stale := Check([]Op{write(10, 20, false), read(25, 30, true)}, initial)
	assert.Len(t, stale.Stale, 1, "the grant shown after its revoke returned")

	torn := read(25, 30, false)
	torn.Torn = true
	assert.Len(t, Check([]Op{write(10, 20, false), torn}, initial).Torn, 1)

	unordered := Check([]Op{write(10, 40, false), read(12, 15, false), read(20, 25, true)}, initial)
	assert.Empty(t, unordered.Stale, "both within the write")
	assert.Equal(t, 1, unordered.Unordered)
	assert.Equal(t, 5*time.Millisecond, unordered.LongestUnordered)

	failed := Op{Write: true, User: 1, Call: at(10), Return: at(20), Value: false}
	unjudged := Check([]Op{failed, read(25, 30, true), write(40, 50, false), read(55, 60, true)}, initial)
	assert.Equal(t, 1, unjudged.Unjudged, "after a failed write, until the next acknowledged one")
	assert.Len(t, unjudged.Stale, 1, "judged again after the next acknowledged write")
}
