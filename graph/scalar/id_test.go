package scalar

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMarshalIntID_WritesTheDecimalString(t *testing.T) {
	for id, want := range map[int]string{0: `"0"`, 7: `"7"`, 42949672961: `"42949672961"`, 1<<63 - 1: `"9223372036854775807"`} {
		var b bytes.Buffer
		MarshalIntID(id).MarshalGQL(&b)
		assert.Equal(t, want, b.String())
		back, err := UnmarshalIntID(b.String()[1 : b.Len()-1])
		assert.NoError(t, err)
		assert.Equal(t, id, back)
	}
}
