package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/authz"
	"authz-gateway/ent"
	"authz-gateway/graph"
	"authz-gateway/internal/testenv"
	"authz-gateway/ratelimit"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pushBound is how long a push may take after the write that caused it
// returned, on another instance (docs/clients.md).
const pushBound = 2 * time.Second

const accessChangedQuery = `subscription { accessChanged {
	permissions accessibleProjects { id } scopeSummary { accessibleProjectCount directScopes { scopeType projectId } } } }`

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type snapshot struct {
	Permissions        []string
	AccessibleProjects []struct{ ID string }
	ScopeSummary       struct{ AccessibleProjectCount int }
}

func (s snapshot) hasProject(id int) bool {
	return slices.ContainsFunc(s.AccessibleProjects, func(p struct{ ID string }) bool { return p.ID == fmt.Sprint(id) })
}

// wsClient is a graphql-transport-ws client of one connection.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

// dialWS opens a graphql-transport-ws connection to srv and sends
// connection_init with payload.
func dialWS(t *testing.T, srv *httptest.Server, payload map[string]any) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.CloseNow() })
	c := &wsClient{t: t, conn: conn}
	c.send(wsMessage{Type: "connection_init", Payload: mustJSON(payload)})
	return c
}

func (c *wsClient) send(m wsMessage) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(c.t, wsjson.Write(ctx, c.conn, m))
}

// next returns the next message other than pings (answered), or the error
// that ended the connection.
func (c *wsClient) next(within time.Duration) (wsMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		var m wsMessage
		if err := wsjson.Read(ctx, c.conn, &m); err != nil {
			return m, err
		}
		switch m.Type {
		case "ping":
			c.send(wsMessage{Type: "pong"})
		case "pong", "ka":
		default:
			return m, nil
		}
	}
}

// subscribe authenticates (expects the ack) and subscribes to accessChanged
// under id.
func (c *wsClient) subscribe(id string) {
	c.t.Helper()
	ack, err := c.next(5 * time.Second)
	require.NoError(c.t, err)
	require.Equal(c.t, "connection_ack", ack.Type)
	c.send(wsMessage{ID: id, Type: "subscribe", Payload: mustJSON(map[string]any{"query": accessChangedQuery})})
}

// push waits for the next "next" message and decodes its snapshot.
func (c *wsClient) push(within time.Duration) (snapshot, error) {
	m, err := c.next(within)
	if err != nil {
		return snapshot{}, err
	}
	if m.Type != "next" {
		return snapshot{}, fmt.Errorf("got %s %s", m.Type, m.Payload)
	}
	var body struct {
		Data   struct{ AccessChanged snapshot }
		Errors []any
	}
	if err := json.Unmarshal(m.Payload, &body); err != nil {
		return snapshot{}, err
	}
	if len(body.Errors) > 0 {
		return snapshot{}, fmt.Errorf("errors: %s", m.Payload)
	}
	return body.Data.AccessChanged, nil
}

// until reads pushes until one satisfies ok, within pushBound.
func (c *wsClient) until(ok func(snapshot) bool) (snapshot, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for {
		left := pushBound - time.Since(start)
		require.Positive(c.t, left, "no matching push within %s", pushBound)
		s, err := c.push(left)
		require.NoError(c.t, err)
		if ok(s) {
			return s, time.Since(start)
		}
	}
}

// liveWorld: two instances on one database and Redis, each on loopback, and
// a user with a PROJECT scope on p.
type liveWorld struct {
	one, two         *testenv.Gateway
	srvOne, srvTwo   *httptest.Server
	user, p, project int
	scope            int
}

func newLiveWorld(t *testing.T) liveWorld {
	one := testenv.NewGateway(t, testenv.Options{})
	two := testenv.NewGateway(t, testenv.Options{DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	w := testenv.NewWorld(t, one.DB.Client)
	lw := liveWorld{one: one, two: two}
	lw.p = w.Program("P")
	lw.project = w.Project(lw.p, "p1")
	lw.user = w.User("live@test.example")
	w.Role(lw.user, access.RoleViewer)
	lw.scope = w.InProject(lw.user, lw.project)
	lw.srvOne, lw.srvTwo = httptest.NewServer(one.Handler), httptest.NewServer(two.Handler)
	t.Cleanup(lw.srvOne.Close)
	t.Cleanup(lw.srvTwo.Close)
	return lw
}

func (lw liveWorld) subscriber(t *testing.T, srv *httptest.Server) *wsClient {
	c := dialWS(t, srv, map[string]any{"Authorization": "Bearer " + lw.two.Token(t, lw.user)})
	c.subscribe("1")
	return c
}

// A client subscribed on one instance sees a revoke made on the other
// within the bound, with the new answer, and the grant after it.
func TestSubscription_PushesChangesMadeOnAnotherInstance(t *testing.T) {
	lw := newLiveWorld(t)
	c := lw.subscriber(t, lw.srvTwo)
	first, err := c.push(pushBound)
	require.NoError(t, err)
	assert.True(t, first.hasProject(lw.project), "the first push is the current access")
	assert.Equal(t, 1, first.ScopeSummary.AccessibleProjectCount)

	admin := testenv.AsUser(lw.one.Admin.ID)
	for round := range 3 {
		_, err := lw.one.Authz.SetScopeActive(admin, lw.scope, false)
		require.NoError(t, err)
		revoked, took := c.until(func(s snapshot) bool { return !s.hasProject(lw.project) })
		assert.Zero(t, revoked.ScopeSummary.AccessibleProjectCount, "round %d", round)
		t.Logf("round %d: revoke pushed %v after the write returned", round, took)

		_, err = lw.one.Authz.SetScopeActive(admin, lw.scope, true)
		require.NoError(t, err)
		c.until(func(s snapshot) bool { return s.hasProject(lw.project) })
	}
}

func TestSubscription_RefusesMissingInvalidAndExpiredTokens(t *testing.T) {
	lw := newLiveWorld(t)
	expired, err := lw.one.Tokens.Issue(lw.user, -time.Minute)
	require.NoError(t, err)
	for name, payload := range map[string]map[string]any{
		"no token":      {},
		"forged token":  {"Authorization": "Bearer not.a.token"},
		"expired token": {"Authorization": "Bearer " + expired},
		"no scheme":     {"Authorization": lw.one.Token(t, lw.user)},
	} {
		t.Run(name, func(t *testing.T) {
			c := dialWS(t, lw.srvTwo, payload)
			var got []string
			for {
				m, err := c.next(5 * time.Second)
				if err != nil {
					assert.NotEqual(t, -1, int(websocket.CloseStatus(err)), "closed by the server: %v", err)
					break
				}
				got = append(got, m.Type)
			}
			assert.NotContains(t, got, "connection_ack")
		})
	}
}

// A user deactivated while subscribed: the socket closes with 4403 (the
// subscription may complete just before).
func TestSubscription_DeactivatedUserIsClosed(t *testing.T) {
	lw := newLiveWorld(t)
	c := lw.subscriber(t, lw.srvTwo)
	_, err := c.push(pushBound)
	require.NoError(t, err)
	inactive := false
	_, err = lw.one.Authz.UpdateUser(testenv.AsUser(lw.one.Admin.ID), lw.user, ent.UpdateUserInput{Active: &inactive})
	require.NoError(t, err)
	assert.Equal(t, websocket.StatusCode(graph.CloseForbidden), c.closedWith(pushBound))
}

// A client that never reads does not hold up another's pushes; a viewer
// gets at most MaxSubscriptionsPerViewer subscriptions per instance.
func TestSubscription_SlowClientDoesNotBlockOthersAndViewersAreBounded(t *testing.T) {
	lw := newLiveWorld(t)
	slow := lw.subscriber(t, lw.srvTwo)
	_ = slow // subscribed, never read again
	fast := lw.subscriber(t, lw.srvTwo)
	_, err := fast.push(pushBound)
	require.NoError(t, err)

	admin := testenv.AsUser(lw.one.Admin.ID)
	for range 10 {
		_, err := lw.one.Authz.SetScopeActive(admin, lw.scope, false)
		require.NoError(t, err)
		_, err = lw.one.Authz.SetScopeActive(admin, lw.scope, true)
		require.NoError(t, err)
	}
	_, err = lw.one.Authz.SetScopeActive(admin, lw.scope, false)
	require.NoError(t, err)
	fast.until(func(s snapshot) bool { return !s.hasProject(lw.project) })

	// slow and fast hold two of the viewer's subscriptions on two.
	var refused bool
	for i := range 5 {
		c := lw.subscriber(t, lw.srvTwo)
		m, err := c.next(pushBound)
		require.NoError(t, err)
		if strings.Contains(string(m.Payload), `"errors"`) {
			assert.Contains(t, string(m.Payload), "RATE_LIMITED")
			assert.Equal(t, 3, i, "the sixth is refused")
			refused = true
			break
		}
	}
	assert.True(t, refused)
}

// Opening a websocket spends the caller's rate limit like any request
// (by address: the token comes only later, in connection_init).
func TestSubscription_UpgradesAreRateLimited(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{RateLimit: ratelimit.Limit{PerSecond: 1, Burst: 1}})
	srv := httptest.NewServer(g.Handler)
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	defer first.CloseNow()
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
}

// A team's grant made on one instance is pushed to a member subscribed on
// the other (the delivery found them through the team), and so is the
// membership's removal.
func TestSubscription_PushesTeamChangesToTheMembers(t *testing.T) {
	lw := newLiveWorld(t)
	w := testenv.NewWorld(t, lw.one.DB.Client)
	other := w.Project(lw.p, "p2")
	team := w.Team("Live team")
	w.Member(team, lw.user)
	c := lw.subscriber(t, lw.srvTwo)
	first, err := c.push(pushBound)
	require.NoError(t, err)
	require.False(t, first.hasProject(other))

	admin := testenv.AsUser(lw.one.Admin.ID)
	_, err = lw.one.Authz.AssignScope(admin, authz.ScopeInput{TeamID: team, ScopeType: access.ScopeProject, ProjectID: &other})
	require.NoError(t, err)
	granted, took := c.until(func(s snapshot) bool { return s.hasProject(other) })
	assert.Equal(t, 2, granted.ScopeSummary.AccessibleProjectCount)
	t.Logf("a team's grant pushed to its member %v after the write returned", took)

	_, err = lw.one.Authz.RemoveTeamMember(admin, team, lw.user)
	require.NoError(t, err)
	c.until(func(s snapshot) bool { return !s.hasProject(other) })
}
