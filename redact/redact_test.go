package redact

import (
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestURLs(t *testing.T) {
	for in, want := range map[string]string{
		`parse "postgres://u:s3cret@host:notaport/db": invalid port`: `parse "postgres://u:xxxxx@host:notaport/db": invalid port`,
		`redis://:s3cret@[bad/0`:                                     `redis://:xxxxx@[bad/0`,
		`postgres://u@host/db has no password`:                       `postgres://u@host/db has no password`,
	} {
		assert.Equal(t, want, URLs(in))
	}
	_, err := url.Parse("postgres://u:s3cret@[bad/db")
	red := Error(err)
	assert.NotContains(t, red.Error(), "s3cret")
	var ue *url.Error
	assert.True(t, errors.As(red, &ue), "the cause is still there")
}
