package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authz-gateway/access"
	"authz-gateway/answers"
	"authz-gateway/app"
	"authz-gateway/auth"
	"authz-gateway/ent"
	"authz-gateway/ent/program"
	"authz-gateway/ent/project"
	"authz-gateway/graph"
	"authz-gateway/internal/idp"
	"authz-gateway/internal/testenv"
	"authz-gateway/internal/workload"
	"authz-gateway/reqctx"

	"github.com/99designs/gqlgen/graphql"
)

// naiveRoot resolves the authorization fields of each user on its own: one
// cache round trip per user and field, one entity query per user (the same
// ID-only shortcut as the real resolvers, so only batching differs). It
// exists only to measure what the loaders save.
type naiveRoot struct {
	*graph.Resolver
	a *app.App
}

func (r naiveRoot) User() graph.UserResolver {
	return naiveUser{UserResolver: r.Resolver.User(), a: r.a}
}

type naiveUser struct {
	graph.UserResolver
	a *app.App
}

func (u naiveUser) answer(ctx context.Context, kind answers.Kind, userID int) (answers.Answer, error) {
	key := answers.Key{Kind: kind, UserID: userID}
	got, err := u.a.Answers().Answers(ctx, []answers.Key{key})
	return got[key], err
}

func (u naiveUser) Permissions(ctx context.Context, obj *ent.User) ([]access.Permission, error) {
	a, err := u.answer(ctx, answers.KindPermissions, obj.ID)
	return a.Permissions, err
}

func (u naiveUser) AccessiblePrograms(ctx context.Context, obj *ent.User) ([]*ent.Program, error) {
	a, err := u.answer(ctx, answers.KindAccessiblePrograms, obj.ID)
	if err != nil || graph.SelectsOnlyID(ctx, "Program") {
		return stubs(a.IDs, func(id int) *ent.Program { return &ent.Program{ID: id} }), err
	}
	return u.a.DB().Client.Program.Query().Where(program.IDIn(a.IDs...)).All(ctx)
}

func (u naiveUser) AccessibleProjects(ctx context.Context, obj *ent.User) ([]*ent.Project, error) {
	a, err := u.answer(ctx, answers.KindAccessibleProjects, obj.ID)
	if err != nil || graph.SelectsOnlyID(ctx, "Project") {
		return stubs(a.IDs, func(id int) *ent.Project { return &ent.Project{ID: id} }), err
	}
	return u.a.DB().Client.Project.Query().Where(project.IDIn(a.IDs...)).All(ctx)
}

func stubs[T any](ids []int, stub func(int) *T) []*T {
	out := make([]*T, len(ids))
	for i, id := range ids {
		out[i] = stub(id)
	}
	return out
}

const fanOutQuery = `query($n: Int!) { users(first: $n) { edges { node {
	permissions accessiblePrograms { id name } accessibleProjects { id } } } } }`

// BenchmarkFanOut runs the fan-out query of the benchmark workload as the
// admin, on a warm cache, through the real handler, with the loaders and
// with the naive per-user path. Pages of 100 and 1000 users with every
// user's project list cost more than the default complexity limit (each
// list is priced by the catalog: 1,000 projects), so these gateways run
// with a limit a deployment serving such pages would set.
func BenchmarkFanOut(b *testing.B) {
	testenv.QuietLogs(b)
	pages := app.Limits{MaxComplexity: 2_000_000}
	g := testenv.NewGateway(b, testenv.Options{Limits: pages})
	if _, err := workload.Build(context.Background(), g.DB.Client, workload.Default); err != nil {
		b.Fatal(err)
	}
	naive := testenv.NewGateway(b, testenv.Options{DatabaseURL: g.DatabaseURL, Prefix: g.Prefix(), Limits: pages,
		Schema: func(a *app.App) graphql.ExecutableSchema {
			return graph.NewSchemaWith(naiveRoot{Resolver: graph.NewResolver(graph.Services{DB: a.DB().Client, Authz: a.Authz(), Answers: a.Answers(), Log: a.Log(), Cache: a.Cache()}), a: a})
		}})
	token := g.Token(b, g.Admin.ID)
	for _, n := range []int{1, 10, 100, 1000} {
		vars := map[string]any{"n": n}
		for _, path := range []struct {
			name string
			gw   *testenv.Gateway
		}{{"loaders", g}, {"naive", naive}} {
			b.Run(fmt.Sprintf("path=%s/users=%d", path.name, n), func(b *testing.B) {
				testenv.MustOK(b, path.gw.Do(b, token, fanOutQuery, vars)) // warm
				for b.Loop() {
					testenv.MustOK(b, path.gw.Do(b, token, fanOutQuery, vars))
				}
			})
		}
	}
}

// BenchmarkOperations runs the other docs/design.md, section 7 operations through the
// handler on a warm cache: check (me { can } on a project, half allowed),
// read (node of a project, half accessible), lookup (me { accessibleProjects { id } }) and floor ({ __typename }).
func BenchmarkOperations(b *testing.B) {
	testenv.QuietLogs(b)
	g := testenv.NewGateway(b, testenv.Options{})
	data, err := workload.Build(context.Background(), g.DB.Client, workload.Default)
	if err != nil {
		b.Fatal(err)
	}
	pairs := data.CheckPairs(64)
	tokens := map[int]string{}
	for _, p := range pairs {
		tokens[p[0]] = g.Token(b, p[0])
	}
	for _, op := range []struct{ name, query string }{
		{"check", `query($id: ID!) { me { can(permission: PROJECT_READ, on: $id) } }`},
		{"read", `query($id: ID!) { node(id: $id) { id } }`},
	} {
		b.Run("op="+op.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				p := pairs[i%len(pairs)]
				i++
				r := g.Do(b, tokens[p[0]], op.query, map[string]any{"id": fmt.Sprint(p[1])})
				if r.Status != 200 {
					b.Fatalf("status %d", r.Status)
				}
			}
		})
	}
	b.Run("op=lookup", func(b *testing.B) {
		i := 0
		for b.Loop() {
			p := pairs[i%len(pairs)]
			i++
			testenv.MustOK(b, g.Do(b, tokens[p[0]], `{ me { accessibleProjects { id } } }`, nil))
		}
	})
	b.Run("op=lookup-ids", func(b *testing.B) {
		i := 0
		for b.Loop() {
			p := pairs[i%len(pairs)]
			i++
			testenv.MustOK(b, g.Do(b, tokens[p[0]], `{ me { accessibleProjectIds } }`, nil))
		}
	})
	b.Run("op=floor", func(b *testing.B) {
		for b.Loop() {
			testenv.MustOK(b, g.Do(b, "", `{ __typename }`, nil))
		}
	})
}

// BenchmarkCheck_Tokens is the check operation with the gateway's own
// HS256 token and with an identity provider's RS256 token, side by side on
// one gateway: a warm request must not pay the asymmetric verification
// (verified tokens are remembered until they expire).
func BenchmarkCheck_Tokens(b *testing.B) {
	testenv.QuietLogs(b)
	provider, err := idp.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(provider.Close)
	g := testenv.NewGateway(b, testenv.Options{
		Identity: app.IdentityProvider{Issuer: provider.Issuer(), Audience: idp.Audience, UserClaim: auth.ClaimEmail}})
	data, err := workload.Build(context.Background(), g.DB.Client, workload.Default)
	if err != nil {
		b.Fatal(err)
	}
	pairs := data.CheckPairs(64)
	own, issuer := map[int]string{}, map[int]string{}
	for _, p := range pairs {
		u, err := g.DB.Client.User.Get(reqctx.NewContextWithSystem(context.Background()), p[0])
		if err != nil {
			b.Fatal(err)
		}
		own[p[0]] = g.Token(b, p[0])
		if issuer[p[0]], err = provider.Token(u.Email, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	const check = `query($id: ID!) { me { can(permission: PROJECT_READ, on: $id) } }`
	for _, kind := range []struct {
		name   string
		tokens map[int]string
	}{{"own-HS256", own}, {"issuer-RS256", issuer}} {
		b.Run("token="+kind.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				p := pairs[i%len(pairs)]
				i++
				r := g.Do(b, kind.tokens[p[0]], check, map[string]any{"id": fmt.Sprint(p[1])})
				if r.Status != 200 || len(r.Errors) > 0 {
					b.Fatalf("status %d: %v", r.Status, r.Errors)
				}
			}
		})
	}
}
