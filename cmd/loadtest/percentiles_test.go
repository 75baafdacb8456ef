package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentiles(t *testing.T) {
	var l []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, []time.Duration{50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}, percentiles(l, 0.50, 0.99, 1))
	assert.Equal(t, 100*time.Millisecond, l[0], "the caller's slice is left as it was")
	assert.Equal(t, []time.Duration{0, 0}, percentiles(nil, 0.5, 0.99))
}
