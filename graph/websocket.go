package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"authz-gateway/apperr"
	"authz-gateway/freshness"
	"authz-gateway/gate"
	"authz-gateway/httpapi"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"
)

// Subscriptions run over graphql-ws (the graphql-transport-ws protocol;
// gqlgen also speaks the older subscriptions-transport-ws). A browser cannot
// set headers on a websocket, so the bearer token comes in connection_init:
// {"Authorization": "Bearer <token>"}. That token is all a socket keeps:
// every operation on it goes through the gate like an HTTP request (token
// verified again, rate limit spent, viewer resolved afresh, fresh loaders),
// and the socket is closed with 4403 when the token expires or the viewer
// is deactivated. Sockets are capped per address and per viewer, and every
// message a client sends (pings too) draws on a per-socket budget.

// Websocket close codes (the graphql-ws convention: 4400-4499 mirror HTTP).
const (
	// CloseForbidden: connection_init without an acceptable token, a token
	// that expired, or a viewer deactivated while connected.
	CloseForbidden = 4403
	// CloseTooManyRequests: over the caps on sockets or messages.
	CloseTooManyRequests = 4429
)

// The socket caps, per instance.
const (
	MaxSocketsPerViewer = 10
	MaxSocketsPerIP     = 100
	// A socket's messages (operations, pings, pongs): a steady rate and a
	// burst. Operations also spend the viewer's rate limit.
	SocketMessagesPerSecond = 100
	SocketMessageBurst      = 200
)

// SocketConfig is what the websocket transport needs from the gateway.
type SocketConfig struct {
	// Origins are the browser origins allowed besides the gateway's own
	// (CORS_ORIGINS, the same rule as for HTTP).
	Origins []string
	// MaxMessageBytes bounds one message (MAX_BODY_BYTES).
	MaxMessageBytes int64
	// OperationTimeout is the deadline of each query and mutation
	// (REQUEST_TIMEOUT, as over HTTP); a subscription lasts as long as the
	// socket.
	OperationTimeout time.Duration

	// The handler's gate, and its log: a socket checks its viewer is
	// still active after every change that may affect them.
	gate *gate.Gate
	log  *freshness.Log
}

// socketTransport is gqlgen's websocket transport with the gateway's rules
// around it.
type socketTransport struct {
	inner  transport.Websocket
	cfg    SocketConfig
	counts *socketCounts
}

var _ graphql.Transport = socketTransport{}

func newSocketTransport(cfg SocketConfig, g *gate.Gate, log *freshness.Log) socketTransport {
	cfg.gate, cfg.log = g, log
	t := socketTransport{cfg: cfg, counts: &socketCounts{byIP: map[string]int{}, byUser: map[int]int{}}}
	limit := cfg.MaxMessageBytes
	t.inner = transport.Websocket{
		Implementation:        acceptor{origins: cfg.Origins},
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		InitFunc:              t.init,
		PayloadReadLimit:      &limit,
	}
	return t
}

// Supports claims every request: the route sends this transport's server
// websocket upgrades only (httpapi.IsWebSocket, the one check).
func (t socketTransport) Supports(*http.Request) bool { return true }

func (t socketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	s := &socket{ip: gate.ClientIP(r.RemoteAddr), counts: t.counts}
	if !t.counts.openFrom(s.ip) {
		w.Header().Set("Retry-After", "1")
		httpapi.WriteError(w, http.StatusTooManyRequests, apperr.RateLimited, fmt.Sprintf("at most %d sockets per address", MaxSocketsPerIP))
		return
	}
	defer s.end()
	t.inner.Do(w, r.WithContext(context.WithValue(r.Context(), socketKey{}, s)),
		&socketExecutor{GraphExecutor: exec, gate: t.cfg.gate, timeout: t.cfg.OperationTimeout})
}

// init handles connection_init: the token must admit a viewer, who must
// have a socket left; then the socket closes itself when the token expires
// or the viewer is deactivated. Only the token is kept.
func (t socketTransport) init(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	s := socketFrom(ctx)
	creds := gate.Credentials{Authorization: payload.Authorization(), ClientIP: s.ip}
	_, adm, err := t.cfg.gate.Admit(ctx, creds)
	if err == nil && adm.UserID == 0 {
		err = reqctx.ErrAuthenticationRequired
	}
	if err != nil {
		return refuse(ctx, err)
	}
	if !t.counts.openAs(adm.UserID) {
		return refuse(ctx, apperr.Errorf(apperr.RateLimited, "at most %d sockets per viewer", MaxSocketsPerViewer))
	}
	s.begin(creds, adm)
	go s.watch(context.WithoutCancel(ctx), t.cfg)
	return ctx, nil, nil
}

// refuse ends connection_init: 4403 for authentication, 4429 for limits.
func refuse(ctx context.Context, err error) (context.Context, *transport.InitPayload, error) {
	code := CloseForbidden
	var limited *gate.RateLimitError
	if errors.As(err, &limited) || apperr.CodeOf(err) == apperr.RateLimited {
		code = CloseTooManyRequests
	}
	msg := apperr.MessageOf(err)
	if limited != nil {
		msg = limited.Error()
	}
	ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, code), msg)
	return ctx, nil, errors.New(msg)
}

type socketKey struct{}

func socketFrom(ctx context.Context) *socket {
	s, _ := ctx.Value(socketKey{}).(*socket)
	return s
}

// socket is one connection's state: its address, the connection_init's
// credentials and what closes it.
type socket struct {
	ip     string
	counts *socketCounts

	mu     sync.Mutex
	creds  gate.Credentials
	userID int
	conn   transport.WebsocketConn
	expiry *time.Timer
	done   chan struct{} // closed by end: stops the watcher
}

func (s *socket) begin(creds gate.Credentials, adm gate.Admission) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds, s.userID, s.done = creds, adm.UserID, make(chan struct{})
	s.expiry = time.AfterFunc(time.Until(adm.Until), func() { s.close(CloseForbidden, "token expired") })
}

func (s *socket) credentials() gate.Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creds
}

// close ends the connection with code (the transport's read loop then
// stops, cancelling the socket's operations).
func (s *socket) close(code int, reason string) {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		_ = conn.WriteClose(code, reason)
	}
}

// watch closes the socket once its viewer is no longer active, checking
// after every change that may affect the viewer.
func (s *socket) watch(ctx context.Context, cfg SocketConfig) {
	signals, stop := cfg.log.WatchUser(s.userID)
	defer stop()
	for {
		select {
		case <-s.done:
			return
		case <-signals:
		}
		if active, err := cfg.gate.StillActive(ctx, s.userID); err == nil && !active {
			s.close(CloseForbidden, "user deactivated")
			return
		}
	}
}

// end releases the socket's places in the caps and stops its timers.
func (s *socket) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.done != nil {
		close(s.done)
	}
	s.counts.release(s.ip, s.userID)
}

// socketCounts counts the open sockets per address and per viewer.
type socketCounts struct {
	mu     sync.Mutex
	byIP   map[string]int
	byUser map[int]int
}

func (c *socketCounts) openFrom(ip string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byIP[ip] >= MaxSocketsPerIP {
		return false
	}
	c.byIP[ip]++
	return true
}

func (c *socketCounts) openAs(userID int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byUser[userID] >= MaxSocketsPerViewer {
		return false
	}
	c.byUser[userID]++
	return true
}

// release gives back the address's place and, for a socket that was
// admitted (userID != 0), the viewer's.
func (c *socketCounts) release(ip string, userID int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byIP[ip]--; c.byIP[ip] <= 0 {
		delete(c.byIP, ip)
	}
	if userID == 0 {
		return
	}
	if c.byUser[userID]--; c.byUser[userID] <= 0 {
		delete(c.byUser, userID)
	}
}

// socketExecutor admits every operation of a socket through the gate before
// gqlgen parses it, as the HTTP middleware does for a request.
type socketExecutor struct {
	graphql.GraphExecutor
	gate    *gate.Gate
	timeout time.Duration
	// admitted holds each created operation's admitted context until it is
	// dispatched (gqlgen creates and dispatches in two calls).
	admitted sync.Map // *graphql.OperationContext -> context.Context
}

func (e *socketExecutor) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	s := socketFrom(ctx)
	admitted, _, err := e.gate.Admit(ctx, s.credentials())
	if err != nil {
		if apperr.CodeOf(err) == apperr.Unauthenticated {
			s.close(CloseForbidden, apperr.MessageOf(err))
		}
		return &graphql.OperationContext{}, gqlerror.List{codedError(err)}
	}
	oc, errs := e.GraphExecutor.CreateOperationContext(admitted, params)
	if errs == nil {
		e.admitted.Store(oc, admitted)
	}
	return oc, errs
}

func (e *socketExecutor) DispatchOperation(ctx context.Context, oc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	if admitted, ok := e.admitted.LoadAndDelete(oc); ok {
		ctx = withValuesOf(ctx, admitted.(context.Context))
	}
	if oc.Operation == nil || oc.Operation.Operation == ast.Subscription || e.timeout <= 0 {
		return e.GraphExecutor.DispatchOperation(ctx, oc)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	responses, ctx := e.GraphExecutor.DispatchOperation(ctx, oc)
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp == nil {
			cancel() // the operation has ended
		}
		return resp
	}, ctx
}

// codedError is a gate refusal as a GraphQL error.
func codedError(err error) *gqlerror.Error {
	var limited *gate.RateLimitError
	if errors.As(err, &limited) {
		err = limited.Coded()
	}
	return &gqlerror.Error{Message: apperr.MessageOf(err), Extensions: map[string]any{"code": string(apperr.CodeOf(err))}}
}

// withValuesOf returns ctx (its deadline and cancellation: the operation's
// lifetime on the socket) with the values of admitted (the viewer, its
// answers and the loaders) behind its own.
func withValuesOf(ctx, admitted context.Context) context.Context {
	return valuesFrom{Context: ctx, values: admitted}
}

type valuesFrom struct {
	context.Context
	values context.Context
}

func (v valuesFrom) Value(key any) any {
	if x := v.Context.Value(key); x != nil {
		return x
	}
	return v.values.Value(key)
}

// acceptor accepts websockets from the gateway's own origin and
// CORS_ORIGINS (httpapi.OriginAllowed, the rule CORS follows), and bounds
// the messages a client sends.
type acceptor struct{ origins []string }

func (a acceptor) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	if !httpapi.OriginAllowed(a.origins, r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return nil, errors.New("websocket: origin not allowed")
	}
	// The origin was checked above by the gateway's rule.
	inner := transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{InsecureSkipVerify: true}}
	conn, err := inner.Accept(w, r, opts)
	if err != nil {
		return nil, err
	}
	bounded := &boundedConn{WebsocketConn: conn, budget: rate.NewLimiter(SocketMessagesPerSecond, SocketMessageBurst), active: map[string]bool{}}
	if s := socketFrom(r.Context()); s != nil {
		s.mu.Lock()
		s.conn = bounded
		s.mu.Unlock()
	}
	return bounded, nil
}

// boundedConn closes a connection whose client sends messages faster than
// its budget, or that subscribes with the ID of an operation still
// running: graphql-ws closes such a socket with 4409 (gqlgen would
// replace the running operation's cancel handle, and the client could
// no longer complete the first one).
type boundedConn struct {
	transport.WebsocketConn
	budget *rate.Limiter

	mu     sync.Mutex
	active map[string]bool // the IDs of the operations running
}

// CloseSubscriberExists: a subscribe message reuses the ID of an
// operation still running (graphql-transport-ws).
const CloseSubscriberExists = 4409

var (
	errTooManyMessages = errors.New("websocket: too many messages")
	errDuplicateID     = errors.New("websocket: an operation with this id is running")
)

// socketMessage is what the connection reads of a graphql-ws message to
// follow its operations.
type socketMessage struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func (c *boundedConn) NextReader() (int, io.Reader, error) {
	typ, r, err := c.WebsocketConn.NextReader()
	if err != nil {
		return typ, r, err
	}
	if !c.budget.Allow() {
		_ = c.WebsocketConn.WriteClose(CloseTooManyRequests, "too many messages")
		return typ, nil, errTooManyMessages
	}
	// The message is read whole (its size is bounded by the read limit)
	// to follow the operations' IDs, then handed on.
	body, err := io.ReadAll(r)
	if err != nil {
		return typ, nil, err
	}
	var m socketMessage
	if json.Unmarshal(body, &m) == nil && m.ID != "" {
		switch m.Type {
		case "subscribe", "start":
			c.mu.Lock()
			running := c.active[m.ID]
			c.active[m.ID] = true
			c.mu.Unlock()
			if running {
				_ = c.WebsocketConn.WriteClose(CloseSubscriberExists, "Subscriber for "+truncate(m.ID, 64)+" already exists")
				return typ, nil, errDuplicateID
			}
		}
		// A client's complete ends nothing yet: gqlgen's operation ends
		// after it and writes its own complete, which frees the ID
		// (WriteJSON).
	}
	return typ, bytes.NewReader(body), nil
}

// WriteJSON follows the operations the server ends (complete, error).
func (c *boundedConn) WriteJSON(v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var m socketMessage
	if json.Unmarshal(body, &m) == nil && m.ID != "" && (m.Type == "complete" || m.Type == "error") {
		c.forget(m.ID)
	}
	return c.WebsocketConn.WriteJSON(json.RawMessage(body))
}

func (c *boundedConn) forget(id string) {
	c.mu.Lock()
	delete(c.active, id)
	c.mu.Unlock()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SetReadLimit passes the message bound to the connection.
func (c *boundedConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}
