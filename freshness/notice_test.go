package freshness

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every message on the log's channel reads back as it was written: the
// kind, the ID and the rest (a delivery's affected users, a writer's W).
func TestParseNotice(t *testing.T) {
	for _, tc := range []struct {
		payload, kind, rest string
		id                  int64
		ok                  bool
	}{
		{"c:12", "c", "", 12, true},
		{"u:7", "u", "", 7, true},
		{"d:9:1,2,3", "d", "1,2,3", 9, true},
		{"d:9:*", "d", "*", 9, true},
		{"w:3:1700000000000000", "w", "1700000000000000", 3, true},
		{"s:1700000000000000", "s", "", 1700000000000000, true},
		{"d:x", "d", "", 0, false},
		{"", "", "", 0, false},
	} {
		kind, id, rest, ok := parseNotice(tc.payload)
		assert.Equal(t, tc.ok, ok, tc.payload)
		if tc.ok {
			assert.Equal(t, []any{tc.kind, tc.id, tc.rest}, []any{kind, id, rest}, tc.payload)
		}
	}
}

// A delivery names whom it affected: everyone ("*"), nobody ("-") or a
// list; anything else is not trusted (readers read the log instead).
func TestParseAffected(t *testing.T) {
	users, all, ok := parseAffected("4,5,6")
	assert.True(t, ok)
	assert.False(t, all)
	assert.Equal(t, []int{4, 5, 6}, users)
	_, all, ok = parseAffected("*")
	assert.True(t, ok && all)
	users, all, ok = parseAffected("-")
	assert.True(t, ok)
	assert.False(t, all)
	assert.Empty(t, users)
	_, _, ok = parseAffected("4,x")
	assert.False(t, ok)
}

func TestUnion(t *testing.T) {
	assert.Equal(t, []int{3, 1, 2}, Union([]int{3, 1}, []int{1, 2, 3}))
	assert.Equal(t, []int{}, Union(nil, nil))
}
