package answers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"authz-gateway/access"
	"authz-gateway/ent"

	"entgo.io/ent/dialect"
)

// resolver computes authorization answers for a set of users straight from the
// database: one SQL statement per kind, whatever the number of users. Only
// active assignments of active users count (docs/design.md, section 3).
type resolver struct {
	db      *ent.Client
	dialect string
}

// activeScopes is the common table expression every scope query starts from:
// the active, not ended scope assignments of the active users in the batch,
// held by the user or by a team the user is an active member of (the
// membership not ended either), with their ends (Unix ms, NULL: none; through
// a team, the earlier of the assignment's and the membership's) as answers
// keep them and as they are shown. %[1]s is the batch, %[2]s the "not ended"
// condition of the dialect for the assignment, %[5]s for the membership,
// %[3]s and %[4]s the end's and the shown end's expressions.
const activeScopes = `WITH s AS (
	SELECT sa.id, sa.user_id, sa.team_id, sa.scope_type, sa.program_id, sa.project_id, %[3]s AS ends, %[4]s AS shown
	FROM scope_assignments sa JOIN users u ON u.id = sa.user_id
	WHERE sa.active AND u.active AND %[2]s AND sa.user_id IN %[1]s
	UNION ALL
	SELECT sa.id, tm.user_id, sa.team_id, sa.scope_type, sa.program_id, sa.project_id, %[6]s, %[7]s
	FROM team_memberships tm JOIN users u ON u.id = tm.user_id JOIN scope_assignments sa ON sa.team_id = tm.team_id
	WHERE tm.active AND %[5]s AND sa.active AND u.active AND %[2]s AND tm.user_id IN %[1]s)
`

// scopeQuery fills activeScopes (and what follows it) for users.
func (r resolver) scopeQuery(text string, users []int) sqlQuery {
	return r.query(strings.NewReplacer(
		"%[2]s", r.live("sa"), "%[3]s", r.endMs("sa"), "%[4]s", r.shownMs("sa"), "%[5]s", r.live("tm"),
		"%[6]s", earliestSQL(r.endMs("sa"), r.endMs("tm")), "%[7]s", earliestSQL(r.shownMs("sa"), r.shownMs("tm")),
	).Replace(activeScopes+text), users)
}

// earliestSQL is the earlier of two ends (Unix ms, NULL: none), in SQL that
// both dialects read alike (SQLite's min() of a NULL is NULL).
func earliestSQL(a, b string) string {
	return "CASE WHEN " + a + " IS NULL THEN " + b + " WHEN " + b + " IS NULL OR " + a + " < " + b + " THEN " + a + " ELSE " + b + " END"
}

// permissions returns the union of the permission sets of each user's active
// roles (their own and their teams'), and each user's earliest end among
// them.
func (r resolver) permissions(ctx context.Context, users []int) (map[int][]access.Permission, ends, error) {
	q := r.query(`SELECT ra.user_id, r.permissions, `+r.endMs("ra")+`
		FROM role_assignments ra
		JOIN users u ON u.id = ra.user_id
		JOIN roles r ON r.id = ra.role_id
		WHERE ra.active AND u.active AND `+r.live("ra")+` AND ra.user_id IN %[1]s
		UNION ALL
		SELECT tm.user_id, r.permissions, `+earliestSQL(r.endMs("ra"), r.endMs("tm"))+`
		FROM team_memberships tm
		JOIN users u ON u.id = tm.user_id
		JOIN role_assignments ra ON ra.team_id = tm.team_id
		JOIN roles r ON r.id = ra.role_id
		WHERE tm.active AND `+r.live("tm")+` AND ra.active AND u.active AND `+r.live("ra")+` AND tm.user_id IN %[1]s`, users)
	sets := make(map[int][]access.Permission, len(users))
	until := ends{}
	err := r.scan(ctx, q, func(rows *sql.Rows) error {
		var user int
		var raw []byte
		var end sql.NullInt64
		if err := rows.Scan(&user, &raw, &end); err != nil {
			return err
		}
		var perms []access.Permission
		if err := json.Unmarshal(raw, &perms); err != nil {
			return fmt.Errorf("decode permissions of a role of user %d: %w", user, err)
		}
		sets[user] = append(sets[user], perms...)
		until.note(user, end)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("compute permissions: %w", err)
	}
	out := make(map[int][]access.Permission, len(users))
	for _, u := range users {
		// Normalizing dedupes the union and fixes the order; unknown values
		// (from a hand-edited row) are dropped rather than granted.
		out[u] = knownPermissions(sets[u])
	}
	return out, until, nil
}

// allIDs stands, in the (user, id) rows of programs and projects, for "every
// one": a GLOBAL scope is answered as such, not as a list of the catalog.
const allIDs = -1

// programs returns each user's accessible programs: all with a GLOBAL scope,
// else PROGRAM-scoped programs plus parents of PROJECT-scoped projects,
// ascending; and each user's earliest end among the scopes that reach them.
func (r resolver) programs(ctx context.Context, users []int) (map[int]IDSet, ends, error) {
	q := r.scopeQuery(`
		SELECT s.user_id, s.program_id, s.ends FROM s WHERE s.scope_type = 'PROGRAM'
		UNION
		SELECT s.user_id, p.program_id, s.ends FROM s JOIN projects p ON p.id = s.project_id WHERE s.scope_type = 'PROJECT'
		UNION
		SELECT s.user_id, -1, s.ends FROM s WHERE s.scope_type = 'GLOBAL'
		ORDER BY 1, 2`, users)
	out, until, err := r.pairs(ctx, q, users)
	if err != nil {
		return nil, nil, fmt.Errorf("compute accessible programs: %w", err)
	}
	return out, until, nil
}

// projects returns each user's accessible projects: all with a GLOBAL scope,
// else every project of PROGRAM-scoped programs plus PROJECT-scoped
// projects, ascending; and each user's earliest end among the scopes that
// reach them.
func (r resolver) projects(ctx context.Context, users []int) (map[int]IDSet, ends, error) {
	q := r.scopeQuery(`
		SELECT s.user_id, p.id, s.ends FROM s JOIN projects p ON p.program_id = s.program_id WHERE s.scope_type = 'PROGRAM'
		UNION
		SELECT s.user_id, s.project_id, s.ends FROM s WHERE s.scope_type = 'PROJECT'
		UNION
		SELECT s.user_id, -1, s.ends FROM s WHERE s.scope_type = 'GLOBAL'
		ORDER BY 1, 2`, users)
	out, until, err := r.pairs(ctx, q, users)
	if err != nil {
		return nil, nil, fmt.Errorf("compute accessible projects: %w", err)
	}
	return out, until, nil
}

// directScopes returns each user's active scope assignments (their own and
// their teams'), by ID, and each user's earliest end among them.
func (r resolver) directScopes(ctx context.Context, users []int) (map[int][]DirectScope, ends, error) {
	q := r.scopeQuery(`SELECT s.id, s.user_id, s.team_id, s.scope_type, s.program_id, s.project_id, s.ends, s.shown FROM s ORDER BY s.id, s.user_id`, users)
	out := make(map[int][]DirectScope, len(users))
	until := ends{}
	err := r.scan(ctx, q, func(rows *sql.Rows) error {
		var d DirectScope
		var team, program, project, end, shown sql.NullInt64
		if err := rows.Scan(&d.ID, &d.UserID, &team, &d.ScopeType, &program, &project, &end, &shown); err != nil {
			return err
		}
		if team.Valid {
			id := int(team.Int64)
			d.TeamID = &id
		}
		if program.Valid {
			id := int(program.Int64)
			d.ProgramID = &id
		}
		if project.Valid {
			id := int(project.Int64)
			d.ProjectID = &id
		}
		if shown.Valid {
			at := time.UnixMilli(shown.Int64).UTC()
			d.ExpiresAt = &at
		}
		out[d.UserID] = append(out[d.UserID], d)
		until.note(d.UserID, end)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("compute direct scopes: %w", err)
	}
	for u, ds := range out {
		out[u] = onePerTarget(ds)
	}
	return out, until, nil
}

// onePerTarget keeps one scope per target (GLOBAL, a program, a project):
// the user's own when they hold it, else the team's that lasts longest. So
// a user's list is never longer than the targets there are, however many
// teams grant the same scope (what prices the list, graph/complexity.go);
// explainAccess names every grant.
func onePerTarget(ds []DirectScope) []DirectScope {
	type target struct {
		t                access.ScopeType
		program, project int
	}
	key := func(d DirectScope) target {
		k := target{t: d.ScopeType}
		if d.ProgramID != nil {
			k.program = *d.ProgramID
		}
		if d.ProjectID != nil {
			k.project = *d.ProjectID
		}
		return k
	}
	at := map[target]int{}
	out := ds[:0]
	for _, d := range ds {
		i, seen := at[key(d)]
		switch {
		case !seen:
			at[key(d)] = len(out)
			out = append(out, d)
		case out[i].TeamID != nil && (d.TeamID == nil || lastsLonger(d.ExpiresAt, out[i].ExpiresAt)):
			out[i] = d
		}
	}
	return out
}

// lastsLonger reports whether end a (nil: never) is later than end b.
func lastsLonger(a, b *time.Time) bool {
	return b != nil && (a == nil || a.After(*b))
}

// pairs runs a query of (user, id, end) rows into per-user ID sets (an
// empty, non-nil list for users without rows; allIDs makes the set "all")
// and each user's earliest end.
func (r resolver) pairs(ctx context.Context, q sqlQuery, users []int) (map[int]IDSet, ends, error) {
	out := make(map[int]IDSet, len(users))
	for _, u := range users {
		out[u] = IDSet{IDs: []int{}}
	}
	until := ends{}
	err := r.scan(ctx, q, func(rows *sql.Rows) error {
		var user, id int
		var end sql.NullInt64
		if err := rows.Scan(&user, &id, &end); err != nil {
			return err
		}
		until.note(user, end)
		set := out[user]
		switch {
		case id == allIDs:
			set.All, set.IDs = true, nil
		case !set.All && (len(set.IDs) == 0 || set.IDs[len(set.IDs)-1] != id):
			// The same ID comes once per end it is reached with.
			set.IDs = append(set.IDs, id)
		}
		out[user] = set
		return nil
	})
	return out, until, err
}

// catalogSize reads the numbers of programs, projects and users, the
// projects of the largest program and the groups teams mirror, in one
// statement. PostgreSQL keeps them
// in catalog_counts (triggers, in every write's transaction: a read of a
// row and an index, whatever the catalog's size); SQLite counts.
func (r resolver) catalogSize(ctx context.Context) (CatalogSize, error) {
	q := sqlQuery{text: `SELECT (SELECT count(*) FROM programs), (SELECT count(*) FROM projects), (SELECT count(*) FROM users),
		(SELECT COALESCE(max(n), 0) FROM (SELECT count(*) AS n FROM projects GROUP BY program_id) AS per_program),
		(SELECT group_concat(external_group, char(10)) FROM teams WHERE external_group IS NOT NULL)`}
	if r.dialect == dialect.Postgres {
		q.text = `SELECT programs, projects, users,
			(SELECT COALESCE(max(projects), 0) FROM catalog_counts WHERE id > 0),
			(SELECT string_agg(external_group, chr(10)) FROM teams WHERE external_group IS NOT NULL)
			FROM catalog_counts WHERE id = 0`
	}
	var c CatalogSize
	found := false
	err := r.scan(ctx, q, func(rows *sql.Rows) error {
		found = true
		var groups sql.NullString
		if err := rows.Scan(&c.Programs, &c.Projects, &c.Users, &c.LargestProgram, &groups); err != nil {
			return err
		}
		c.Groups = groupList(groups)
		return nil
	})
	if err == nil && !found {
		err = errors.New("catalog_counts has no totals: the database was not migrated by this version")
	}
	if err != nil {
		return CatalogSize{}, fmt.Errorf("count the catalog: %w", err)
	}
	return c, nil
}

// catalogIDs returns the IDs of every row of table (programs or projects),
// ascending: what a GLOBAL scope reaches.
func (r resolver) catalogIDs(ctx context.Context, table string) ([]int, error) {
	ids, err := r.ints(ctx, sqlQuery{text: "SELECT id FROM " + table + " ORDER BY id"})
	if err != nil {
		return nil, fmt.Errorf("list the %s: %w", table, err)
	}
	return ids, nil
}

// ints runs q, whose rows are one integer each, and returns them in order
// (empty, not nil, for none).
func (r resolver) ints(ctx context.Context, q sqlQuery) ([]int, error) {
	ids := []int{}
	err := r.scan(ctx, q, func(rows *sql.Rows) error {
		var id int
		err := rows.Scan(&id)
		ids = append(ids, id)
		return err
	})
	return ids, err
}

type sqlQuery struct {
	text string
	args []any
}

// query fills each `IN %[1]s` list of text with placeholders for users, in
// the dialect's style ($n for PostgreSQL, numbered once for every list;
// ? for SQLite, whose arguments repeat for each list).
func (r resolver) query(text string, users []int) sqlQuery {
	marks := make([]string, len(users))
	args := make([]any, len(users))
	for i, u := range users {
		marks[i] = "?"
		if r.dialect == dialect.Postgres {
			marks[i] = "$" + strconv.Itoa(i+1)
		}
		args[i] = u
	}
	if r.dialect != dialect.Postgres {
		args = slices.Repeat(args, strings.Count(text, "%[1]s"))
	}
	return sqlQuery{text: strings.ReplaceAll(text, "%[1]s", "("+strings.Join(marks, ", ")+")"), args: args}
}

func (r resolver) scan(ctx context.Context, q sqlQuery, row func(*sql.Rows) error) error {
	return Scan(ctx, r.db, q.text, q.args, row)
}

// Scan runs the statement text with args on db and calls row for each row.
func Scan(ctx context.Context, db *ent.Client, text string, args []any, row func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, text, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func knownPermissions(ps []access.Permission) []access.Permission {
	known := make([]access.Permission, 0, len(ps))
	for _, p := range ps {
		if p.Valid() {
			known = append(known, p)
		}
	}
	out, _ := access.NormalizePermissions(known)
	return out
}

// userStatuses reads what authentication needs of each user, with the
// groups of the provider-mirroring teams they are an active member of (and
// the earliest end among those memberships); an unknown user's status says
// it does not exist. One statement.
func (r resolver) userStatuses(ctx context.Context, users []int) (map[int]UserStatus, ends, error) {
	agg := "group_concat(t.external_group, char(10))"
	if r.dialect == dialect.Postgres {
		agg = "string_agg(t.external_group, chr(10))"
	}
	synced := func(what string) string {
		return `(SELECT ` + what + ` FROM team_memberships tm JOIN teams t ON t.id = tm.team_id
			WHERE tm.user_id = u.id AND t.external_group IS NOT NULL AND tm.active AND ` + r.live("tm") + `)`
	}
	q := r.query(`SELECT u.id, u.email, u.name, u.active, u.external_id, `+synced(agg)+`, `+synced("min("+r.endMs("tm")+")")+`
		FROM users u WHERE u.id IN %[1]s`, users)
	out := make(map[int]UserStatus, len(users))
	until := ends{}
	err := r.scan(ctx, q, func(rows *sql.Rows) error {
		var id int
		var external, groups sql.NullString
		var end sql.NullInt64
		st := UserStatus{Exists: true}
		if err := rows.Scan(&id, &st.Email, &st.Name, &st.Active, &external, &groups, &end); err != nil {
			return err
		}
		st.ExternalID = external.String
		st.Groups = groupList(groups)
		out[id] = st
		until.note(id, end)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("user statuses: %w", err)
	}
	return out, until, nil
}

// groupList reads groups aggregated one a line (string_agg, group_concat:
// a group name holds no control character), sorted; nil for none.
func groupList(agg sql.NullString) []string {
	if !agg.Valid || agg.String == "" {
		return nil
	}
	groups := strings.Split(agg.String, "\n")
	slices.Sort(groups)
	return groups
}
