package graph

import (
	"context"
	"errors"
	"net/url"
	"time"

	"authz-gateway/auth"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
)

// websocketTransport serves subscriptions over graphql-ws (the
// graphql-transport-ws protocol; gqlgen also speaks the older
// subscriptions-transport-ws). A browser cannot set headers on a websocket,
// so the bearer token comes in connection_init: {"Authorization": "Bearer
// <token>"}. A missing, invalid or expired token closes the connection
// before any operation. Browsers may connect from the gateway's own origin
// and from CORS_ORIGINS only.
func websocketTransport(cfg HandlerConfig) transport.Websocket {
	origins := make([]string, 0, len(cfg.Origins))
	for _, o := range cfg.Origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			origins = append(origins, u.Host)
		}
	}
	return transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: origins},
		},
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
		InitFunc: func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			token, ok := auth.BearerToken(payload.Authorization())
			if !ok {
				return ctx, nil, errors.New("authentication required: connection_init needs {\"Authorization\": \"Bearer <token>\"}")
			}
			authed, err := cfg.Authenticate(ctx, token)
			if err != nil {
				return ctx, nil, errors.New("invalid or expired token")
			}
			return authed, nil, nil
		},
	}
}
