package db_test

import (
	"context"
	"testing"

	"authz-gateway/access"
	"authz-gateway/apperr"
	"authz-gateway/db"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/ent/scopeassignment"
	"authz-gateway/internal/testenv"
	"authz-gateway/reqctx"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture is a migrated, bootstrapped PostgreSQL database with one program,
// one project and one user.
type fixture struct {
	db      *db.DB
	ctx     context.Context
	user    *ent.User
	program *ent.Program
	project *ent.Project
}

func newFixture(t *testing.T) fixture {
	d := testenv.OpenPostgres(t, db.Options{})
	ctx := reqctx.NewContextWithSystem(context.Background())
	require.NoError(t, d.EnsureRoles(ctx))
	f := fixture{db: d, ctx: ctx}
	f.user = d.Client.User.Create().SetEmail("u@test.example").SetName("U").SaveX(ctx)
	f.program = d.Client.Program.Create().SetName("P").SaveX(ctx)
	f.project = d.Client.Project.Create().SetName("J").SetProgramID(f.program.ID).SaveX(ctx)
	return f
}

func TestConstraints_Postgres(t *testing.T) {
	f := newFixture(t)
	c := f.db.Client

	t.Run("duplicate email", func(t *testing.T) {
		err := c.User.Create().SetEmail("u@test.example").SetName("Other").Exec(f.ctx)
		assert.True(t, ent.IsConstraintError(err), "got %v", err)
	})
	t.Run("invalid email", func(t *testing.T) {
		err := c.User.Create().SetEmail("not an email").SetName("X").Exec(f.ctx)
		assert.True(t, ent.IsValidationError(err), "got %v", err)
	})
	t.Run("duplicate user and role", func(t *testing.T) {
		viewer := c.Role.Query().Where(role.TypeEQ(access.RoleViewer)).OnlyX(f.ctx)
		require.NoError(t, c.RoleAssignment.Create().SetUserID(f.user.ID).SetRoleID(viewer.ID).Exec(f.ctx))
		err := c.RoleAssignment.Create().SetUserID(f.user.ID).SetRoleID(viewer.ID).Exec(f.ctx)
		assert.True(t, ent.IsConstraintError(err), "got %v", err)
	})
	t.Run("duplicate role type", func(t *testing.T) {
		err := c.Role.Create().SetType(access.RoleViewer).SetPermissions(nil).Exec(f.ctx)
		assert.True(t, ent.IsConstraintError(err), "got %v", err)
	})
	t.Run("unknown role type", func(t *testing.T) {
		err := c.Role.Create().SetType("OWNER").SetPermissions(nil).Exec(f.ctx)
		assert.True(t, ent.IsValidationError(err), "got %v", err)
	})
	t.Run("valid scopes of every type", func(t *testing.T) {
		require.NoError(t, c.ScopeAssignment.Create().SetUserID(f.user.ID).SetScopeType(access.ScopeGlobal).Exec(f.ctx))
		require.NoError(t, c.ScopeAssignment.Create().SetUserID(f.user.ID).SetScopeType(access.ScopeProgram).SetProgramID(f.program.ID).Exec(f.ctx))
		require.NoError(t, c.ScopeAssignment.Create().SetUserID(f.user.ID).SetScopeType(access.ScopeProject).SetProjectID(f.project.ID).Exec(f.ctx))
	})
}

func TestConstraints_ScopeTargetMustMatchType(t *testing.T) {
	f := newFixture(t)
	c := f.db.Client
	cases := []struct {
		name             string
		scope            access.ScopeType
		program, project *int
	}{
		{"PROGRAM without a program", access.ScopeProgram, nil, nil},
		{"PROGRAM with a project", access.ScopeProgram, &f.program.ID, &f.project.ID},
		{"PROJECT with a program", access.ScopeProject, &f.program.ID, &f.project.ID},
		{"PROJECT without a project", access.ScopeProject, nil, nil},
		{"PROJECT with only a program", access.ScopeProject, &f.program.ID, nil},
		{"GLOBAL with a program", access.ScopeGlobal, &f.program.ID, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name+" (schema hook)", func(t *testing.T) {
			err := c.ScopeAssignment.Create().SetUserID(f.user.ID).SetScopeType(tc.scope).
				SetNillableProgramID(tc.program).SetNillableProjectID(tc.project).Exec(f.ctx)
			require.Error(t, err)
			assert.Equal(t, apperr.BadUserInput, apperr.CodeOf(err))
		})
		t.Run(tc.name+" (database check)", func(t *testing.T) {
			// Bypass ent to prove the database enforces the rule on its own.
			_, err := f.db.SQL.ExecContext(f.ctx,
				`INSERT INTO scope_assignments (user_id, scope_type, program_id, project_id, active) VALUES ($1, $2, $3, $4, true)`,
				f.user.ID, string(tc.scope), tc.program, tc.project)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "scope_target_matches_type")
		})
	}
	n := c.ScopeAssignment.Query().Where(scopeassignment.UserID(f.user.ID)).CountX(f.ctx)
	assert.Zero(t, n, "no invalid scope was stored")
}

func TestMigrate_IsIdempotent(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.db.Migrate(f.ctx), "a second migration of the same schema")
	require.NoError(t, f.db.EnsureRoles(f.ctx))
	assert.Equal(t, 4, f.db.Client.Role.Query().CountX(f.ctx), "roles are not duplicated")
}

func TestBootstrap_KeepsEditedRolePermissions(t *testing.T) {
	f := newFixture(t)
	c := f.db.Client
	c.Role.Update().Where(role.TypeEQ(access.RoleViewer)).SetPermissions([]access.Permission{access.ProjectRead}).ExecX(f.ctx)
	require.NoError(t, f.db.EnsureRoles(f.ctx))
	viewer := c.Role.Query().Where(role.TypeEQ(access.RoleViewer)).OnlyX(f.ctx)
	assert.Equal(t, []access.Permission{access.ProjectRead}, viewer.Permissions)
}
