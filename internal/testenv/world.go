package testenv

import (
	"context"
	"testing"

	"authz-gateway/access"
	"authz-gateway/ent"
	"authz-gateway/ent/role"
	"authz-gateway/reqctx"
)

// World writes test data directly (system context, no invalidation): use it
// to arrange a scenario before the first read.
type World struct {
	t   testing.TB
	db  *ent.Client
	ctx context.Context
}

// NewWorld returns a World over db.
func NewWorld(t testing.TB, db *ent.Client) *World {
	return &World{t: t, db: db, ctx: reqctx.NewContextWithSystem(context.Background())}
}

// Program creates a program.
func (w *World) Program(name string) int {
	return w.db.Program.Create().SetName(name).SaveX(w.ctx).ID
}

// Project creates a project in program.
func (w *World) Project(program int, name string) int {
	return w.db.Project.Create().SetName(name).SetProgramID(program).SaveX(w.ctx).ID
}

// User creates an active user.
func (w *World) User(email string) int {
	return w.db.User.Create().SetEmail(email).SetName(email).SaveX(w.ctx).ID
}

// Role assigns a role (active unless told otherwise) and returns the
// assignment ID.
func (w *World) Role(user int, rt access.RoleType, active ...bool) int {
	r := w.db.Role.Query().Where(role.TypeEQ(rt)).OnlyX(w.ctx)
	c := w.db.RoleAssignment.Create().SetUserID(user).SetRoleID(r.ID)
	if len(active) > 0 {
		c.SetActive(active[0])
	}
	return c.SaveX(w.ctx).ID
}

// Global gives a GLOBAL scope and returns its ID.
func (w *World) Global(user int, active ...bool) int {
	return w.scope(user, access.ScopeGlobal, nil, nil, active)
}

// InProgram gives a PROGRAM scope and returns its ID.
func (w *World) InProgram(user, program int, active ...bool) int {
	return w.scope(user, access.ScopeProgram, &program, nil, active)
}

// InProject gives a PROJECT scope and returns its ID.
func (w *World) InProject(user, project int, active ...bool) int {
	return w.scope(user, access.ScopeProject, nil, &project, active)
}

func (w *World) scope(user int, st access.ScopeType, program, project *int, active []bool) int {
	c := w.db.ScopeAssignment.Create().SetUserID(user).SetScopeType(st).
		SetNillableProgramID(program).SetNillableProjectID(project)
	if len(active) > 0 {
		c.SetActive(active[0])
	}
	return c.SaveX(w.ctx).ID
}

// Deactivate marks a user inactive.
func (w *World) Deactivate(user int) {
	w.db.User.UpdateOneID(user).SetActive(false).ExecX(w.ctx)
}

// AsUser returns a context acting for user (what authentication produces).
func AsUser(user int) context.Context {
	return reqctx.NewContextWithViewer(context.Background(), reqctx.Viewer{UserID: user})
}

// Team creates a team holding nothing.
func (w *World) Team(name string) int {
	return w.db.Team.Create().SetName(name).SaveX(w.ctx).ID
}

// Member makes user an active member of team, with no end.
func (w *World) Member(team, user int) int {
	return w.db.TeamMembership.Create().SetTeamID(team).SetUserID(user).SaveX(w.ctx).ID
}

// TeamInProject gives team a PROJECT scope and returns its ID.
func (w *World) TeamInProject(team, project int) int {
	return w.db.ScopeAssignment.Create().SetTeamID(team).SetScopeType(access.ScopeProject).SetProjectID(project).SaveX(w.ctx).ID
}
