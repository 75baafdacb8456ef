package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"authz-gateway/httpapi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Past MaxInFlight the gateway sheds load at once (429 RATE_LIMITED with
// Retry-After, after InFlightWait at most) instead of queueing every
// request; a place freed serves the next request; probes are not counted.
func TestInFlight_PastCapacityRequestsAreShed(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	var served sync.WaitGroup
	busy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			started.Done()
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"ok":true}}`))
	})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{GraphQL: busy, MaxInFlight: 2}))
	t.Cleanup(srv.Close)
	post := func(query string) *http.Response {
		resp, err := http.Post(srv.URL+"/graphql"+query, "application/json", strings.NewReader(`{"query":"{ ok }"}`))
		require.NoError(t, err)
		return resp
	}
	for range 2 {
		served.Add(1)
		go func() {
			defer served.Done()
			resp := post("?hold=1")
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		}()
	}
	started.Wait() // both places taken

	began := time.Now()
	resp := post("")
	took := time.Since(began)
	var body struct {
		Errors []struct{ Extensions struct{ Code string } }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.Len(t, body.Errors, 1)
	assert.Equal(t, "RATE_LIMITED", body.Errors[0].Extensions.Code)
	assert.GreaterOrEqual(t, took, httpapi.InFlightWait, "it waited for a place first")

	health, err := http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	health.Body.Close()
	assert.Equal(t, http.StatusOK, health.StatusCode, "probes are not counted")

	close(release)
	served.Wait()
	resp = post("")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a freed place serves the next request")
}
