package workload

import (
	"encoding/json"
	"fmt"
)

// The example web app's own documents (examples/web-client/src/
// operations.ts; TestWebApp_DocumentsAreTheApps holds them equal), for the
// realistic workload: what a browser running the app asks, not only the
// two documents the peer comparison needs.
const (
	WebAppMe = `query Me {
    me {
      id
      email
      name
      permissions
      scopeSummary {
        hasGlobalScope
        accessibleProgramCount
        accessibleProjectCount
      }
    }
  }`
	WebAppProgramsPage = `query ProgramsPage($first: Int!, $after: Cursor) {
    programs(first: $first, after: $after, orderBy: { field: NAME }) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
          description
        }
      }
    }
  }`
	WebAppProjectsPage = `query ProjectsPage($first: Int!, $after: Cursor) {
    projects(first: $first, after: $after, orderBy: { field: NAME }) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
          program {
            id
            name
          }
        }
      }
    }
  }`
	WebAppChecks = `query Checks($checks: [AccessCheckInput!]!) {
    checkAccess(checks: $checks)
  }`
	WebAppWhyWrite = `query WhyWrite($user: ID!, $on: ID!) {
    explainAccess(userId: $user, permission: PROJECT_WRITE, on: $on) {
      allowed
      missing
      roles {
        role {
          type
        }
        team {
          name
        }
      }
      scopes {
        scopeType
        program {
          name
        }
        project {
          name
        }
        team {
          name
        }
      }
    }
  }`
	WebAppRenameProject = `mutation RenameProject($id: ID!, $name: String!) {
    updateProject(id: $id, input: { name: $name }) {
      id
      name
    }
  }`
)

// WebAppRequest is one request of the app's session: a document, its
// variables, and who sends it.
type WebAppRequest struct {
	Name      string
	Query     string
	Variables map[string]any
	User      int
	// Check verifies the answer's data against the workload (nil: no
	// errors is enough).
	Check func(data json.RawMessage) error
}

// WebAppReads are the read documents of one session of user, in the order
// the app sends them: who am I, a page of programs and of projects, the
// checks that decide the 20 rows' buttons, and one "why?".
func (d *Data) WebAppReads(user int) []WebAppRequest {
	rows := d.Projects[:min(20, len(d.Projects))]
	checks := make([]map[string]any, len(rows))
	want := make([]bool, len(rows))
	for i, p := range rows {
		checks[i] = map[string]any{"userId": fmt.Sprint(user), "permission": "PROJECT_READ", "on": fmt.Sprint(p)}
		want[i] = d.Allowed(user, p)
	}
	why := rows[0]
	for _, p := range rows {
		if d.Allowed(user, p) {
			why = p
			break
		}
	}
	page := map[string]any{"first": 20}
	return []WebAppRequest{
		{Name: "Me", Query: WebAppMe, User: user},
		{Name: "ProgramsPage", Query: WebAppProgramsPage, Variables: page, User: user},
		{Name: "ProjectsPage", Query: WebAppProjectsPage, Variables: page, User: user},
		{Name: "Checks", Query: WebAppChecks, Variables: map[string]any{"checks": checks}, User: user,
			Check: func(data json.RawMessage) error {
				var got struct{ CheckAccess []bool }
				if err := json.Unmarshal(data, &got); err != nil {
					return err
				}
				if fmt.Sprint(got.CheckAccess) != fmt.Sprint(want) {
					return fmt.Errorf("wrong answer: user %d: checkAccess %v, want %v", user, got.CheckAccess, want)
				}
				return nil
			}},
		{Name: "WhyWrite", Query: WebAppWhyWrite, Variables: map[string]any{"user": fmt.Sprint(user), "on": fmt.Sprint(why)}, User: user},
	}
}

// WebAppRename is the session's one write: admin renames project (to
// name).
func WebAppRename(admin, project int, name string) WebAppRequest {
	return WebAppRequest{Name: "RenameProject", Query: WebAppRenameProject, User: admin,
		Variables: map[string]any{"id": fmt.Sprint(project), "name": name}}
}
