package quietlog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestWarn_OncePerIntervalPerMessage(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	clock := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	now = func() time.Time { return clock }
	defer func() { now = time.Now }()

	for range 1000 {
		Warn(context.Background(), "store down", "err", "refused")
		Warn(context.Background(), "sweep failed")
	}
	assert.Equal(t, 2, strings.Count(buf.String(), "\n"), "one line per message: %s", buf.String())
	clock = clock.Add(Interval)
	Warn(context.Background(), "store down", "err", "refused")
	assert.Contains(t, buf.String(), "repeated=999", "the suppressed count is reported")
}
