// The operations of the example, typed by the client preset: write them with
// graphql() and `npm run codegen` gives each its result and variables types.
import { graphql } from './gql';

/** Who am I, what may I do, where? */
export const Me = graphql(`
  query Me {
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
  }
`);

/** The projects the viewer may read, a page at a time. */
export const ProjectsPage = graphql(`
  query ProjectsPage($first: Int!, $after: Cursor) {
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
  }
`);

/** May I edit this project? (Hide the button when not.) */
export const CanEdit = graphql(`
  query CanEdit($on: ID!) {
    me {
      can(permission: PROJECT_WRITE, on: $on)
    }
  }
`);

/** Rename a project. */
export const RenameProject = graphql(`
  mutation RenameProject($id: ID!, $name: String!) {
    updateProject(id: $id, input: { name: $name }) {
      id
      name
    }
  }
`);

/** My access, pushed after every change that affects it. */
export const AccessChanged = graphql(`
  subscription AccessChanged {
    accessChanged {
      permissions
      accessibleProjects {
        id
      }
      scopeSummary {
        hasGlobalScope
        accessibleProjectCount
      }
    }
  }
`);
