package freshness

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Positions.Accept is the whole trust rule for the cache store: a store is
// used only while it is not behind the log nor behind itself.
func TestPositions_Accept(t *testing.T) {
	p := NewPositions()
	assert.True(t, p.Accept(0), "an empty log and an empty store")
	p.delivered(5)
	assert.False(t, p.Accept(4), "behind what the log says was delivered")
	assert.Len(t, p.repair, 1, "and a repair is asked for")
	assert.True(t, p.Accept(7), "ahead of the delivered head: deliveries finish out of order")
	assert.False(t, p.Accept(6), "behind what this store showed before: it went back in time")
	assert.True(t, p.Accept(7))

	p.behind.Store(true)
	assert.False(t, p.Accept(7), "an overdue entry is undelivered")
	p.behind.Store(false)
	assert.True(t, p.Accept(8))
}
