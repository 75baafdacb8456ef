package testenv

import (
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
)

// Notifications collects what PostgreSQL delivers on a channel, as a
// listening instance receives it.
type Notifications struct {
	mu       sync.Mutex
	payloads []string
}

// ListenAll listens on channel of the database at url until t ends.
func ListenAll(t testing.TB, url, channel string) *Notifications {
	t.Helper()
	n := &Notifications{}
	listener := pq.NewListener(url, 100*time.Millisecond, time.Second, nil)
	if err := listener.Listen(channel); err != nil {
		t.Fatalf("testenv: listen %s: %v", channel, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for note := range listener.Notify {
			if note == nil {
				continue // reconnected
			}
			n.mu.Lock()
			n.payloads = append(n.payloads, note.Extra)
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = listener.Close()
		<-done
	})
	return n
}

// Take returns the payloads received since the last Take.
func (n *Notifications) Take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.payloads
	n.payloads = nil
	return out
}
