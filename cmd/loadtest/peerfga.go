package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"authz-gateway/internal/workload"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// OpenFGA, the second peer: in memory, over gRPC (its Go API, one
// connection per client), with the same relationships as SpiceDB's schema
// and the same answers checked. Its check and list caches are on: a
// comparison is fair when each system runs as its users would tune it.

// fgaModel is spiceSchema in OpenFGA's terms:
//
//	type user
//	type platform
//	  relations
//	    define global: [user]
//	type program
//	  relations
//	    define platform: [platform]
//	    define member: [user]
//	    define reach: member or global from platform
//	type project
//	  relations
//	    define program: [program]
//	    define member: [user]
//	    define read: member or reach from program
func fgaModel() *openfgav1.WriteAuthorizationModelRequest {
	this := &openfgav1.Userset{Userset: &openfgav1.Userset_This{This: &openfgav1.DirectUserset{}}}
	computed := func(rel string) *openfgav1.Userset {
		return &openfgav1.Userset{Userset: &openfgav1.Userset_ComputedUserset{ComputedUserset: &openfgav1.ObjectRelation{Relation: rel}}}
	}
	from := func(tupleset, rel string) *openfgav1.Userset {
		return &openfgav1.Userset{Userset: &openfgav1.Userset_TupleToUserset{TupleToUserset: &openfgav1.TupleToUserset{
			Tupleset: &openfgav1.ObjectRelation{Relation: tupleset}, ComputedUserset: &openfgav1.ObjectRelation{Relation: rel}}}}
	}
	union := func(children ...*openfgav1.Userset) *openfgav1.Userset {
		return &openfgav1.Userset{Userset: &openfgav1.Userset_Union{Union: &openfgav1.Usersets{Child: children}}}
	}
	direct := func(types ...string) *openfgav1.RelationMetadata {
		m := &openfgav1.RelationMetadata{}
		for _, t := range types {
			m.DirectlyRelatedUserTypes = append(m.DirectlyRelatedUserTypes, &openfgav1.RelationReference{Type: t})
		}
		return m
	}
	return &openfgav1.WriteAuthorizationModelRequest{SchemaVersion: "1.1", TypeDefinitions: []*openfgav1.TypeDefinition{
		{Type: "user"},
		{Type: "platform", Relations: map[string]*openfgav1.Userset{"global": this},
			Metadata: &openfgav1.Metadata{Relations: map[string]*openfgav1.RelationMetadata{"global": direct("user")}}},
		{Type: "program", Relations: map[string]*openfgav1.Userset{
			"platform": this, "member": this, "reach": union(computed("member"), from("platform", "global"))},
			Metadata: &openfgav1.Metadata{Relations: map[string]*openfgav1.RelationMetadata{"platform": direct("platform"), "member": direct("user")}}},
		{Type: "project", Relations: map[string]*openfgav1.Userset{
			"program": this, "member": this, "read": union(computed("member"), from("program", "reach"))},
			Metadata: &openfgav1.Metadata{Relations: map[string]*openfgav1.RelationMetadata{"program": direct("program"), "member": direct("user")}}},
	}}
}

type openfga struct {
	grpcAddr     string
	store, model string
	cmd          *exec.Cmd
}

// startOpenFGA runs the binary at bin with an in-memory datastore on a free
// loopback port, waits until it answers, and creates the store and model.
func startOpenFGA(ctx context.Context, bin string) (*openfga, error) {
	f := &openfga{grpcAddr: fmt.Sprintf("127.0.0.1:%d", freePort())}
	f.cmd = exec.CommandContext(ctx, bin, "run", "--datastore-engine", "memory", "--grpc-addr", f.grpcAddr,
		"--http-enabled=false", "--playground-enabled=false", "--metrics-enabled=false", "--log-level", "error",
		"--listObjects-max-results", "0",
		"--check-query-cache-enabled", "--check-iterator-cache-enabled", "--list-objects-iterator-cache-enabled")
	f.cmd.Stderr = os.Stderr
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start openfga: %w", err)
	}
	c, conn, err := f.dial()
	if err != nil {
		f.stop()
		return nil, err
	}
	defer conn.Close()
	var store *openfgav1.CreateStoreResponse
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if store, err = c.CreateStore(ctx, &openfgav1.CreateStoreRequest{Name: "bench-peer"}); err == nil {
			break
		}
	}
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("openfga did not become ready: %w", err)
	}
	f.store = store.GetId()
	model := fgaModel()
	model.StoreId = f.store
	written, err := c.WriteAuthorizationModel(ctx, model)
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("openfga model: %w", err)
	}
	f.model = written.GetAuthorizationModelId()
	return f, nil
}

func (f *openfga) stop() {
	_ = f.cmd.Process.Kill()
	_ = f.cmd.Wait()
}

func (f *openfga) dial() (openfgav1.OpenFGAServiceClient, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("dial openfga: %w", err)
	}
	return openfgav1.NewOpenFGAServiceClient(conn), conn, nil
}

// load writes the workload's relationships, 100 per write (OpenFGA's
// default limit).
func (f *openfga) load(ctx context.Context, d *workload.Data) error {
	c, conn, err := f.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	var tuples []*openfgav1.TupleKey
	for _, r := range relationships(d) {
		tuples = append(tuples, &openfgav1.TupleKey{Object: fgaObject(r.resType, r.resID), Relation: r.relation, User: fgaObject(r.subType, r.subID)})
	}
	for start := 0; start < len(tuples); start += 100 {
		_, err := c.Write(ctx, &openfgav1.WriteRequest{StoreId: f.store, AuthorizationModelId: f.model,
			Writes: &openfgav1.WriteRequestWrites{TupleKeys: tuples[start:min(start+100, len(tuples))], OnDuplicate: "ignore"}})
		if err != nil {
			return fmt.Errorf("openfga write tuples: %w", err)
		}
	}
	return nil
}

func fgaObject(typ string, id int) string { return typ + ":" + strconv.Itoa(id) }

// target is the check or lookup of the workload's pairs over gRPC, one
// connection per client: Check, and ListObjects for the lookup (every
// result at once, as the gateway's accessibleProjectIds returns them).
func (f *openfga) target(op string, d *workload.Data) (*target, error) {
	pairs := d.CheckPairs(256)
	var sendOn func(c openfgav1.OpenFGAServiceClient) func(ctx context.Context, i int) error
	switch op {
	case "check":
		sendOn = func(c openfgav1.OpenFGAServiceClient) func(ctx context.Context, i int) error {
			return func(ctx context.Context, i int) error {
				p := pairs[i%len(pairs)]
				resp, err := c.Check(ctx, &openfgav1.CheckRequest{StoreId: f.store, AuthorizationModelId: f.model,
					TupleKey: &openfgav1.CheckRequestTupleKey{User: fgaObject("user", p[0]), Relation: "read", Object: fgaObject("project", p[1])}})
				if err != nil {
					return err
				}
				if want := d.Allowed(p[0], p[1]); resp.GetAllowed() != want {
					return fmt.Errorf("wrong answer: user %d project %d: %t", p[0], p[1], resp.GetAllowed())
				}
				return nil
			}
		}
	case "lookup":
		sendOn = func(c openfgav1.OpenFGAServiceClient) func(ctx context.Context, i int) error {
			return func(ctx context.Context, i int) error {
				user := pairs[i%len(pairs)][0]
				resp, err := c.ListObjects(ctx, &openfgav1.ListObjectsRequest{StoreId: f.store, AuthorizationModelId: f.model,
					Type: "project", Relation: "read", User: fgaObject("user", user)})
				if err != nil {
					return err
				}
				n, reachable := d.Reachable(user)
				for _, obj := range resp.GetObjects() {
					id, err := strconv.Atoi(strings.TrimPrefix(obj, "project:"))
					if err != nil || !reachable(id) {
						return fmt.Errorf("wrong answer: user %d: %q", user, obj)
					}
				}
				if got := len(resp.GetObjects()); got != n {
					return fmt.Errorf("wrong answer: user %d: %d projects, want %d", user, got, n)
				}
				return nil
			}
		}
	default:
		return nil, errors.New("the peer benchmark runs check and lookup, not " + strconv.Quote(op))
	}
	return &target{connect: func() (func(ctx context.Context, i int) error, func(), error) {
		c, conn, err := f.dial()
		if err != nil {
			return nil, nil, err
		}
		return sendOn(c), func() { _ = conn.Close() }, nil
	}}, nil
}
