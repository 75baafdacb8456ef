package db

import (
	"context"
	"fmt"

	"authz-gateway/access"
	"authz-gateway/ent"
	"authz-gateway/reqctx"
)

// demoCatalog is the small catalog of the embedded default: enough programs,
// projects and users to see every scope shape from the playground.
var demoCatalog = []struct {
	program  string
	projects []string
}{
	{"Apollo", []string{"Lunar Lander", "Command Module", "Saturn V"}},
	{"Gemini", []string{"Rendezvous", "Spacewalk"}},
	{"Mercury", []string{"Freedom 7", "Friendship 7"}},
}

// demoUsers covers the role/scope shapes: a program manager of one program,
// a project manager of one project, a viewer of two programs.
var demoUsers = []struct {
	email, name string
	role        access.RoleType
	programs    []string
	projects    []string
}{
	{"pm.apollo@example.com", "Ada (Apollo program manager)", access.RoleProgramManager, []string{"Apollo"}, nil},
	{"lead.lander@example.com", "Grace (Lunar Lander lead)", access.RoleProjectManager, nil, []string{"Lunar Lander"}},
	{"viewer@example.com", "Linus (viewer of Gemini and Mercury)", access.RoleViewer, []string{"Gemini", "Mercury"}, nil},
}

// SeedDemo writes the demo catalog and users once: if any program exists it
// does nothing, so restarts never duplicate data.
func (d *DB) SeedDemo(ctx context.Context) (seeded bool, err error) {
	ctx = reqctx.NewContextWithSystem(ctx)
	err = d.inTx(ctx, func(tx *ent.Tx) error {
		if n, err := tx.Program.Query().Count(ctx); err != nil || n > 0 {
			return err
		}
		seeded = true
		programs, projects, err := seedCatalog(ctx, tx)
		if err != nil {
			return err
		}
		if err := seedUsers(ctx, tx, programs, projects); err != nil {
			return err
		}
		return seedTeam(ctx, tx, programs)
	})
	if err != nil {
		return false, fmt.Errorf("seed demo data: %w", err)
	}
	return seeded, nil
}

func seedCatalog(ctx context.Context, tx *ent.Tx) (programs, projects map[string]int, err error) {
	programs, projects = map[string]int{}, map[string]int{}
	for _, c := range demoCatalog {
		p, err := tx.Program.Create().SetName(c.program).SetDescription("The " + c.program + " program").Save(ctx)
		if err != nil {
			return nil, nil, err
		}
		programs[c.program] = p.ID
		for _, name := range c.projects {
			pr, err := tx.Project.Create().SetName(name).SetProgramID(p.ID).Save(ctx)
			if err != nil {
				return nil, nil, err
			}
			projects[name] = pr.ID
		}
	}
	return programs, projects, nil
}

func seedUsers(ctx context.Context, tx *ent.Tx, programs, projects map[string]int) error {
	roles, err := ensureRoles(ctx, tx)
	if err != nil {
		return err
	}
	for _, du := range demoUsers {
		u, err := ensureUser(ctx, tx, du.email, du.name)
		if err != nil {
			return err
		}
		if err := ensureRole(ctx, tx, u.ID, roles[du.role]); err != nil {
			return err
		}
		for _, name := range du.programs {
			id := programs[name]
			if err := ensureScope(ctx, tx, u.ID, access.ScopeProgram, &id, nil); err != nil {
				return err
			}
		}
		for _, name := range du.projects {
			id := projects[name]
			if err := ensureScope(ctx, tx, u.ID, access.ScopeProject, nil, &id); err != nil {
				return err
			}
		}
	}
	return nil
}

// seedTeam adds a team to the demo, holding VIEWER and a PROGRAM scope on
// Apollo, with no members yet (the README's team example adds one) and
// mirroring the provider's group "mission-control".
func seedTeam(ctx context.Context, tx *ent.Tx, programs map[string]int) error {
	roles, err := ensureRoles(ctx, tx)
	if err != nil {
		return err
	}
	t, err := tx.Team.Create().SetName("Mission control").SetDescription("Everyone who follows the Apollo program").
		SetExternalGroup("mission-control").Save(ctx)
	if err != nil {
		return fmt.Errorf("demo team: %w", err)
	}
	if err := tx.RoleAssignment.Create().SetTeamID(t.ID).SetRoleID(roles[access.RoleViewer]).Exec(ctx); err != nil {
		return fmt.Errorf("demo team's role: %w", err)
	}
	apollo := programs["Apollo"]
	if err := tx.ScopeAssignment.Create().SetTeamID(t.ID).SetScopeType(access.ScopeProgram).SetProgramID(apollo).Exec(ctx); err != nil {
		return fmt.Errorf("demo team's scope: %w", err)
	}
	return nil
}
