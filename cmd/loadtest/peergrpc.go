package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"authz-gateway/internal/workload"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/authzed-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// SpiceDB over gRPC, the interface its users call (authzed-go, one
// connection per client): the table's main comparison. Its HTTP/JSON
// gateway (peer.go) roughly halves SpiceDB's throughput here, so a ratio
// against it flatters the gateway; the peer table shows both, labelled.

// bearer is the preshared key as per-call credentials over plaintext
// loopback (authzed's grpcutil does the same; not worth a dependency).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// dial opens one gRPC connection to SpiceDB.
func (s *spicedb) dial() (*authzed.Client, error) {
	c, err := authzed.NewClient(s.grpcAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer(s.key)))
	if err != nil {
		return nil, fmt.Errorf("dial spicedb: %w", err)
	}
	return c, nil
}

// grpcTarget is target over gRPC: the same pairs, the same answers checked.
func (s *spicedb) grpcTarget(op string, d *workload.Data) (*target, error) {
	pairs := d.CheckPairs(256)
	consistency := &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
	ref := func(typ string, id int) *v1.ObjectReference {
		return &v1.ObjectReference{ObjectType: typ, ObjectId: strconv.Itoa(id)}
	}
	var sendOn func(c *authzed.Client) func(ctx context.Context, i int) error
	switch op {
	case "check":
		sendOn = func(c *authzed.Client) func(ctx context.Context, i int) error {
			return func(ctx context.Context, i int) error {
				p := pairs[i%len(pairs)]
				resp, err := c.CheckPermission(ctx, &v1.CheckPermissionRequest{
					Consistency: consistency, Resource: ref("project", p[1]), Permission: "read",
					Subject: &v1.SubjectReference{Object: ref("user", p[0])},
				})
				if err != nil {
					return err
				}
				got := resp.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION
				if want := d.Allowed(p[0], p[1]); got != want {
					return fmt.Errorf("wrong answer: user %d project %d: %s", p[0], p[1], resp.GetPermissionship())
				}
				return nil
			}
		}
	case "lookup":
		sendOn = func(c *authzed.Client) func(ctx context.Context, i int) error {
			return func(ctx context.Context, i int) error {
				user := pairs[i%len(pairs)][0]
				stream, err := c.LookupResources(ctx, &v1.LookupResourcesRequest{
					Consistency: consistency, ResourceObjectType: "project", Permission: "read",
					Subject: &v1.SubjectReference{Object: ref("user", user)},
				})
				if err != nil {
					return err
				}
				n, reachable := d.Reachable(user)
				got := 0
				for {
					r, err := stream.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return err
					}
					id, err := strconv.Atoi(r.GetResourceObjectId())
					if err != nil || !reachable(id) {
						return fmt.Errorf("wrong answer: user %d: project %q", user, r.GetResourceObjectId())
					}
					got++
				}
				if got != n {
					return fmt.Errorf("wrong answer: user %d: %d projects, want %d", user, got, n)
				}
				return nil
			}
		}
	default:
		return nil, fmt.Errorf("the peer benchmark runs check and lookup, not %q", op)
	}
	return &target{connect: func() (func(ctx context.Context, i int) error, func(), error) {
		c, err := s.dial()
		if err != nil {
			return nil, nil, err
		}
		return sendOn(c), func() { _ = c.Close() }, nil
	}}, nil
}
