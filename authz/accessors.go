package authz

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"authz-gateway/access"
	"authz-gateway/ent"

	"entgo.io/ent/dialect"
)

// Accessors answers Program.accessors and Project.accessors ("who can
// access this?", the reverse of the accessible lists): the active users who
// hold p through an active role and have the object in the reach p needs
// through an active scope (the read reach for a *_READ permission, the write
// reach for any other, as Reach.Allows decides a check), ordered by ID, a
// page at a time, with the total. Needs USER_READ and the object readable by
// the viewer (NOT_FOUND otherwise, like one that does not exist). One SQL
// statement per page: the reach is stated as the scopes that give it.
func (s *Service) Accessors(ctx context.Context, p access.Permission, on, first int, after *ent.Cursor) (*ent.UserConnection, error) {
	reach, err := s.Require(ctx, access.UserRead)
	if err != nil {
		return nil, err
	}
	if !p.Valid() {
		return nil, badInput("unknown permission %q", p)
	}
	o, err := s.Object(ctx, reach, on)
	if err != nil {
		return nil, err
	}
	afterID := 0
	if after != nil {
		afterID = after.ID
	}
	q := accessorsQuery(s.res.dialect, p, o, afterID, first+1)
	conn := &ent.UserConnection{Edges: []*ent.UserEdge{}}
	err = s.res.scan(ctx, q, func(rows *sql.Rows) error {
		u := &ent.User{Active: true}
		var external sql.NullString
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &external, &conn.TotalCount); err != nil {
			return err
		}
		if external.Valid {
			u.ExternalID = &external.String
		}
		conn.Edges = append(conn.Edges, &ent.UserEdge{Node: u, Cursor: ent.Cursor{ID: u.ID}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accessors of %d: %w", on, err)
	}
	if len(conn.Edges) > first {
		conn.Edges = conn.Edges[:first]
		conn.PageInfo.HasNextPage = true
	}
	conn.PageInfo.HasPreviousPage = after != nil
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor, conn.PageInfo.EndCursor = &conn.Edges[0].Cursor, &conn.Edges[n-1].Cursor
	} else if after != nil {
		// Past the last page: the total is not in any row; count it as
		// the rows before the cursor cannot tell. An empty page costs a
		// second statement only when asked for beyond the end.
		return s.accessorsPastTheEnd(ctx, p, o, conn)
	}
	return conn, nil
}

// accessorsPastTheEnd fills the total of a page after the last one.
func (s *Service) accessorsPastTheEnd(ctx context.Context, p access.Permission, o access.Object, conn *ent.UserConnection) (*ent.UserConnection, error) {
	q := accessorsQuery(s.res.dialect, p, o, 0, 1)
	err := s.res.scan(ctx, q, func(rows *sql.Rows) error {
		var id int
		var email, name string
		var external sql.NullString
		return rows.Scan(&id, &email, &name, &external, &conn.TotalCount)
	})
	if err != nil {
		return nil, fmt.Errorf("accessors of %d: %w", o.ID, err)
	}
	return conn, nil
}

// accessorsQuery is the one statement of a page: the users with the
// permission (the role's stored set names it) and a scope that reaches the
// object, counted over all of them before the page is cut.
func accessorsQuery(sqlDialect string, p access.Permission, o access.Object, afterID, limit int) sqlQuery {
	var args []any
	mark := func(v any) string {
		args = append(args, v)
		if sqlDialect == dialect.Postgres {
			return "$" + strconv.Itoa(len(args))
		}
		return "?"
	}
	// The role's permission set as text: jsonb on PostgreSQL, a blob on
	// SQLite.
	permissions := "CAST(r.permissions AS TEXT)"
	// Marks are numbered in the order they appear in the text (SQLite's
	// are positional): the reach first, then the permission.
	var reach string
	switch {
	case o.Kind == access.ProgramObject && p.IsRead():
		// The program's own scope, or a scope on one of its projects.
		id := mark(o.ID)
		reach = fmt.Sprintf(`sa.scope_type = 'GLOBAL'
			OR (sa.scope_type = 'PROGRAM' AND sa.program_id = %s)
			OR (sa.scope_type = 'PROJECT' AND sa.project_id IN (SELECT id FROM projects WHERE program_id = %s))`, id, mark(o.ID))
	case o.Kind == access.ProgramObject:
		reach = fmt.Sprintf(`sa.scope_type = 'GLOBAL' OR (sa.scope_type = 'PROGRAM' AND sa.program_id = %s)`, mark(o.ID))
	default:
		// A project: its program's scope or its own, for reading and
		// writing alike.
		reach = fmt.Sprintf(`sa.scope_type = 'GLOBAL'
			OR (sa.scope_type = 'PROGRAM' AND sa.program_id = (SELECT program_id FROM projects WHERE id = %s))
			OR (sa.scope_type = 'PROJECT' AND sa.project_id = %s)`, mark(o.ID), mark(o.ID))
	}
	held := fmt.Sprintf(`%s LIKE %s ESCAPE '\'`, permissions, mark(`%"`+strings.ReplaceAll(string(p), "_", `\_`)+`"%`))
	text := fmt.Sprintf(`SELECT id, email, name, external_id, total FROM (
		SELECT u.id, u.email, u.name, u.external_id, COUNT(*) OVER () AS total
		FROM users u
		WHERE u.active
			AND u.id IN (SELECT sa.user_id FROM scope_assignments sa WHERE sa.active AND (%s))
			AND EXISTS (SELECT 1 FROM role_assignments ra JOIN roles r ON r.id = ra.role_id
				WHERE ra.user_id = u.id AND ra.active AND %s)
	) t WHERE id > %s ORDER BY id LIMIT %s`, reach, held, mark(afterID), mark(limit))
	return sqlQuery{text: text, args: args}
}
