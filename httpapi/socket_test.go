package httpapi_test

// The graphql-ws socket goes through the same pipeline as HTTP (issue 17):
// each operation is admitted afresh, the socket closes when its token
// expires or its viewer is deactivated, and sockets and their messages are
// bounded. Every test runs with the production rate limit.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/graph"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// socketWorld: two instances on one database and Redis, with the
// production rate limit, and Bob, an admin (ADMIN + VIEWER, GLOBAL).
type socketWorld struct {
	one, two       *testenv.Gateway
	srvOne, srvTwo *httptest.Server
	bob, global    int
	program        int
}

func newSocketWorld(t *testing.T) socketWorld {
	limit := testenv.ProductionRateLimit()
	one := testenv.NewGateway(t, testenv.Options{RateLimit: limit})
	two := testenv.NewGateway(t, testenv.Options{RateLimit: limit, DatabaseURL: one.DatabaseURL, Prefix: one.Prefix()})
	w := testenv.NewWorld(t, one.DB.Client)
	sw := socketWorld{one: one, two: two}
	sw.program = w.Program("Before")
	sw.bob = w.User("bob@test.example")
	w.Role(sw.bob, access.RoleAdmin)
	w.Role(sw.bob, access.RoleViewer)
	sw.global = w.Global(sw.bob)
	sw.srvOne, sw.srvTwo = httptest.NewServer(one.Handler), httptest.NewServer(two.Handler)
	t.Cleanup(sw.srvOne.Close)
	t.Cleanup(sw.srvTwo.Close)
	return sw
}

// admin runs query over HTTP on instance one as the bootstrap admin.
func (sw socketWorld) admin(t *testing.T, query string, vars map[string]any) {
	t.Helper()
	testenv.MustOK(t, sw.one.Do(t, sw.one.Token(t, sw.one.Admin.ID), query, vars))
}

// open dials instance two and authenticates with token (ack expected).
func (sw socketWorld) open(t *testing.T, token string) *wsClient {
	t.Helper()
	c := dialWS(t, sw.srvTwo, map[string]any{"Authorization": "Bearer " + token})
	ack, err := c.next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "connection_ack", ack.Type, "%s", ack.Payload)
	return c
}

// opResult is how one operation on a socket ended: its answer, or the
// socket's close code.
type opResult struct {
	Data   json.RawMessage
	Codes  []string
	Closed websocket.StatusCode // -1 while open
}

// run sends one operation under id and reads until it completes or the
// socket closes.
func (c *wsClient) run(id, query string, vars map[string]any) opResult {
	c.t.Helper()
	res := opResult{Closed: -1}
	payload := mustJSON(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, mustJSON(wsMessage{ID: id, Type: "subscribe", Payload: payload})); err != nil {
		res.Closed = websocket.CloseStatus(err)
		return res
	}
	for {
		m, err := c.next(5 * time.Second)
		if err != nil {
			res.Closed = websocket.CloseStatus(err)
			require.NotEqual(c.t, websocket.StatusCode(-1), res.Closed, "no answer and no close: %v", err)
			return res
		}
		switch {
		case m.ID != id:
		case m.Type == "next":
			var body struct {
				Data   json.RawMessage
				Errors []struct{ Extensions map[string]any }
			}
			require.NoError(c.t, json.Unmarshal(m.Payload, &body))
			res.Data = body.Data
			for _, e := range body.Errors {
				res.Codes = append(res.Codes, fmt.Sprint(e.Extensions["code"]))
			}
		case m.Type == "error":
			var errs []struct{ Extensions map[string]any }
			require.NoError(c.t, json.Unmarshal(m.Payload, &errs))
			for _, e := range errs {
				res.Codes = append(res.Codes, fmt.Sprint(e.Extensions["code"]))
			}
			return res
		case m.Type == "complete":
			return res
		}
	}
}

// closedWith waits for the server to close c and returns the code.
func (c *wsClient) closedWith(within time.Duration) websocket.StatusCode {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if _, err := c.next(time.Until(deadline)); err != nil {
			return websocket.CloseStatus(err)
		}
	}
	return -1
}

// Finding 1: a socket opened by an admin who is then fired keeps nothing of
// his old power. Three sockets opened beforehand try to re-grant him: every
// attempt is refused or finds the socket closed, and over HTTP he is still
// fired.
func TestSocket_FiredAdminCannotReGrantHimself(t *testing.T) {
	sw := newSocketWorld(t)
	token := sw.two.Token(t, sw.bob)
	sockets := []*wsClient{sw.open(t, token), sw.open(t, token), sw.open(t, token)}

	sw.admin(t, `mutation($id: ID!) { removeScope(id: $id) }`, map[string]any{"id": itoa(sw.global)})
	sw.admin(t, `mutation($u: ID!) { removeRole(userId: $u, role: ADMIN) }`, map[string]any{"u": itoa(sw.bob)})
	sw.admin(t, `mutation($u: ID!) { updateUser(id: $u, input: {active: false}) { active } }`, map[string]any{"u": itoa(sw.bob)})

	attempts := []string{
		`mutation($u: ID!) { updateUser(id: $u, input: {active: true}) { active } }`,
		`mutation($u: ID!) { assignRole(userId: $u, role: ADMIN) { id } }`,
		`mutation($u: ID!) { assignScope(input: {userId: $u, scopeType: GLOBAL}) { id } }`,
	}
	for i, c := range sockets {
		res := c.run("1", attempts[i], map[string]any{"u": itoa(sw.bob)})
		if res.Closed == -1 {
			assert.Equal(t, []string{"UNAUTHENTICATED"}, res.Codes, "attempt %d: answered %s", i, res.Data)
			res.Closed = c.closedWith(3 * time.Second)
		}
		assert.Equal(t, websocket.StatusCode(graph.CloseForbidden), res.Closed, "attempt %d: the socket closes", i)
		assert.NotContains(t, string(res.Data), `"id"`, "attempt %d wrote", i)
	}
	assert.Equal(t, []string{"UNAUTHENTICATED"}, sw.one.Do(t, token, `{ me { id } }`, nil).Codes())
	bob := sw.one.DB.Client.User.GetX(reqctx.NewContextWithSystem(context.Background()), sw.bob)
	assert.False(t, bob.Active, "still deactivated")
	reach, err := sw.one.Authz.Reach(context.Background(), sw.bob)
	require.NoError(t, err)
	assert.False(t, reach.Can(access.RoleManage), "no ADMIN again")
	assert.False(t, reach.Global, "no GLOBAL scope again")
}

// Finding 1, the rest: each operation reads the viewer's permissions and
// the data afresh (no reach and no loaders kept from connection_init or an
// earlier operation).
func TestSocket_EachOperationReadsTheViewerAndDataAfresh(t *testing.T) {
	sw := newSocketWorld(t)
	c := sw.open(t, sw.two.Token(t, sw.bob))
	var before struct {
		Me struct{ Permissions []string }
	}
	res := c.run("1", `{ me { permissions } }`, nil)
	require.Empty(t, res.Codes)
	require.NoError(t, json.Unmarshal(res.Data, &before))
	assert.Len(t, before.Me.Permissions, len(access.AllPermissions))

	sw.admin(t, `mutation($u: ID!) { removeRole(userId: $u, role: ADMIN) }`, map[string]any{"u": itoa(sw.bob)})
	sw.admin(t, `mutation($p: ID!) { updateProgram(id: $p, input: {name: "After"}) { id } }`, map[string]any{"p": itoa(sw.program)})

	var after struct {
		Me   struct{ Permissions []string }
		Node struct{ Name string }
	}
	res = c.run("2", `query($p: ID!) { me { permissions } node(id: $p) { ... on Program { name } } }`, map[string]any{"p": itoa(sw.program)})
	require.Empty(t, res.Codes)
	require.NoError(t, json.Unmarshal(res.Data, &after))
	assert.ElementsMatch(t, []string{"PROGRAM_READ", "PROJECT_READ"}, after.Me.Permissions, "a VIEWER now")
	assert.Equal(t, "After", after.Node.Name, "fresh loaders")

	res = c.run("3", `mutation { createProgram(input: {name: "Mine"}) { id } }`, nil)
	assert.Equal(t, []string{"FORBIDDEN"}, res.Codes)
}

// Finding 2: a socket whose token expires is closed with 4403 when HTTP
// starts refusing the token (exp plus the clock skew), not later.
func TestSocket_ClosedWhenTheTokenExpires(t *testing.T) {
	sw := newSocketWorld(t)
	// Expired 28 s ago: acceptable for about 2 more seconds (ClockSkew is
	// 30 s; exp is in whole seconds).
	token, err := sw.two.Tokens.Issue(sw.bob, -28*time.Second)
	require.NoError(t, err)
	id, err := sw.two.Tokens.Verify(token)
	require.NoError(t, err)
	c := sw.open(t, token)
	require.Empty(t, c.run("1", `{ me { id } }`, nil).Codes)
	assert.Equal(t, websocket.StatusCode(graph.CloseForbidden), c.closedWith(5*time.Second))
	late := time.Since(id.Until)
	assert.Greater(t, late, -50*time.Millisecond, "not before the token ends")
	assert.Less(t, late, time.Second, "when it ends")
	assert.Equal(t, []string{"UNAUTHENTICATED"}, sw.one.Do(t, token, `{ me { id } }`, nil).Codes(), "HTTP refuses it too")
}

// Finding 2: an idle socket is closed with 4403 when its viewer is
// deactivated on another instance.
func TestSocket_ClosedWhenTheViewerIsDeactivated(t *testing.T) {
	sw := newSocketWorld(t)
	c := sw.open(t, sw.two.Token(t, sw.bob))
	sw.admin(t, `mutation($u: ID!) { updateUser(id: $u, input: {active: false}) { active } }`, map[string]any{"u": itoa(sw.bob)})
	assert.Equal(t, websocket.StatusCode(graph.CloseForbidden), c.closedWith(pushBound))
}

// Finding 5: each operation on a socket spends the viewer's rate limit,
// shared with HTTP, and pings are bounded.
func TestSocket_OperationsSpendTheRateLimit(t *testing.T) {
	sw := newSocketWorld(t)
	token := sw.two.Token(t, sw.bob)
	c := sw.open(t, token)
	limit := testenv.ProductionRateLimit()
	var ok, limited int
	for i := range limit.Burst + 50 {
		res := c.run(fmt.Sprint(i), `{ me { id } }`, nil)
		require.Equal(t, websocket.StatusCode(-1), res.Closed)
		switch {
		case len(res.Codes) == 0:
			ok++
		case res.Codes[0] == "RATE_LIMITED":
			limited++
		}
	}
	t.Logf("%d answered, %d rate limited", ok, limited)
	assert.Positive(t, limited, "operations over the budget are refused")
	assert.LessOrEqual(t, ok, limit.Burst+limit.PerSecond*5, "no more than the budget could hold")
	// The budget refills at RATE_LIMIT per second: a short burst over HTTP
	// right after finds it spent (it is the viewer's, shared).
	limitedOverHTTP := false
	for range 10 {
		if sw.one.Do(t, token, `{ me { id } }`, nil).Status == http.StatusTooManyRequests {
			limitedOverHTTP = true
			break
		}
	}
	assert.True(t, limitedOverHTTP, "the budget is the viewer's, over HTTP too")
}

func TestSocket_MessageFloodIsClosed(t *testing.T) {
	sw := newSocketWorld(t)
	c := sw.open(t, sw.two.Token(t, sw.bob))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for range 5 * graph.SocketMessageBurst {
			if c.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)) != nil {
				return
			}
		}
	}()
	code := websocket.StatusCode(-1)
	for code == -1 {
		var m wsMessage
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			code = websocket.CloseStatus(err)
			require.NotEqual(t, websocket.StatusCode(-1), code, "%v", err)
			break
		}
		require.NoError(t, json.Unmarshal(data, &m))
	}
	assert.Equal(t, websocket.StatusCode(graph.CloseTooManyRequests), code)
}

// Finding 6: sockets are capped per viewer and per address.
func TestSocket_CappedPerViewer(t *testing.T) {
	sw := newSocketWorld(t)
	token := sw.two.Token(t, sw.bob)
	for range graph.MaxSocketsPerViewer {
		sw.open(t, token)
	}
	c := dialWS(t, sw.srvTwo, map[string]any{"Authorization": "Bearer " + token})
	assert.Equal(t, websocket.StatusCode(graph.CloseTooManyRequests), c.closedWith(5*time.Second))
}

func TestSocket_CappedPerAddress(t *testing.T) {
	sw := newSocketWorld(t)
	url := "ws" + strings.TrimPrefix(sw.srvTwo.URL, "http") + "/graphql"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() (*http.Response, error) {
		conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err == nil {
			t.Cleanup(func() { _ = conn.CloseNow() })
		}
		return resp, err
	}
	for i := range graph.MaxSocketsPerIP {
		if resp, err := dial(); err != nil {
			// The upgrades' own rate limit (per address) may refuse one
			// when the loop outruns it: wait for the budget and go on.
			require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "socket %d", i)
			time.Sleep(time.Second)
			_, err = dial()
			require.NoError(t, err, "socket %d", i)
		}
	}
	time.Sleep(time.Second) // the upgrade budget refills: the cap refuses, not the rate
	resp, err := dial()
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
}

// A refused connection_init says so with 4403, so a client knows to sign in
// again rather than retry.
func TestSocket_RefusedInitClosesWith4403(t *testing.T) {
	sw := newSocketWorld(t)
	expired, err := sw.one.Tokens.Issue(sw.bob, -time.Hour)
	require.NoError(t, err)
	for name, payload := range map[string]map[string]any{
		"no token":      {},
		"expired token": {"Authorization": "Bearer " + expired},
	} {
		t.Run(name, func(t *testing.T) {
			c := dialWS(t, sw.srvTwo, payload)
			assert.Equal(t, websocket.StatusCode(graph.CloseForbidden), c.closedWith(5*time.Second))
		})
	}
}

// A subscription document with two root fields is the client's mistake.
func TestSocket_TwoRootFieldsIsBadUserInput(t *testing.T) {
	sw := newSocketWorld(t)
	c := sw.open(t, sw.two.Token(t, sw.bob))
	res := c.run("1", `subscription { a: accessChanged { permissions } b: accessChanged { permissions } }`, nil)
	assert.Equal(t, []string{"BAD_USER_INPUT"}, res.Codes)
}

// One origin rule for CORS and websockets: CORS_ORIGINS entries match
// exactly (scheme included), and "*" allows every origin.
func TestSocket_OriginRuleIsTheCORSRule(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		origin  string
		ok      bool
	}{
		{[]string{"https://app.example"}, "https://app.example", true},
		{[]string{"https://app.example"}, "http://app.example", false},
		{[]string{"https://app.example"}, "https://evil.example", false},
		{[]string{"*"}, "https://any.example", true},
	} {
		g := testenv.NewGateway(t, testenv.Options{CORSOrigins: tc.allowed})
		srv := httptest.NewServer(g.Handler)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", &websocket.DialOptions{
			Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: http.Header{"Origin": {tc.origin}}})
		if err == nil {
			_ = conn.CloseNow()
		}
		assert.Equal(t, tc.ok, err == nil, "%v from %s: %v", tc.allowed, tc.origin, err)
		req := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
		req.Header.Set("Origin", tc.origin)
		rec := testenv.Serve(g.Handler, req)
		assert.Equal(t, tc.ok, rec.Header().Get("Access-Control-Allow-Origin") == tc.origin, "CORS agrees for %s", tc.origin)
		cancel()
		srv.Close()
	}
}

// curl --http2 sends "Upgrade: h2c": an ordinary request, not a websocket.
func TestHTTP_OtherUpgradeHeadersAreServedNormally(t *testing.T) {
	g := testenv.NewGateway(t, testenv.Options{})
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ me { email } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.Token(t, g.Admin.ID))
	req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
	req.Header.Set("Upgrade", "h2c")
	rec := testenv.Serve(g.Handler, req)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), testenv.AdminEmail)
}

// TestSocket_ReusedOperationIDIsClosedWith4409: issue 31, finding 10.
// Subscribing again under the ID of a subscription still running replaced
// its cancel handle in gqlgen's transport, so the client could never
// complete the first one. graphql-transport-ws closes such a socket with
// 4409; an ID whose operation has ended may be used again.
func TestSocket_ReusedOperationIDIsClosedWith4409(t *testing.T) {
	sw := newSocketWorld(t)
	token := sw.two.Token(t, sw.bob)

	c := sw.open(t, token)
	assert.JSONEq(t, `{"__typename":"Query"}`, string(c.run("q", `{ __typename }`, nil).Data))
	assert.JSONEq(t, `{"__typename":"Query"}`, string(c.run("q", `{ __typename }`, nil).Data), "a completed ID is free again")

	c.send(wsMessage{ID: "live", Type: "subscribe", Payload: mustJSON(map[string]any{"query": accessChangedQuery})})
	_, err := c.push(5 * time.Second)
	require.NoError(t, err, "the first subscription runs")
	c.send(wsMessage{ID: "live", Type: "subscribe", Payload: mustJSON(map[string]any{"query": accessChangedQuery})})
	assert.Equal(t, websocket.StatusCode(4409), c.closedWith(5*time.Second))

	// Completing frees the ID on a new socket.
	c = sw.open(t, token)
	c.send(wsMessage{ID: "live", Type: "subscribe", Payload: mustJSON(map[string]any{"query": accessChangedQuery})})
	_, err = c.push(5 * time.Second)
	require.NoError(t, err)
	c.send(wsMessage{ID: "live", Type: "complete"})
	done, err := c.next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, "complete", done.Type, "the server ends the operation")
	c.send(wsMessage{ID: "live", Type: "subscribe", Payload: mustJSON(map[string]any{"query": accessChangedQuery})})
	_, err = c.push(5 * time.Second)
	assert.NoError(t, err, "subscribed again once it ended")
}
