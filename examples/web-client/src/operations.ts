// The operations of the app, typed by the client preset: write them with
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

/** The programs the viewer may read, a page at a time. */
export const ProgramsPage = graphql(`
  query ProgramsPage($first: Int!, $after: Cursor) {
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

/** Many checks in one request: which rows get which buttons. */
export const Checks = graphql(`
  query Checks($checks: [AccessCheckInput!]!) {
    checkAccess(checks: $checks)
  }
`);

/** Why may I (not) write this project? */
export const WhyWrite = graphql(`
  query WhyWrite($user: ID!, $on: ID!) {
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
      scopeSummary {
        accessibleProgramCount
        accessibleProjectCount
      }
    }
  }
`);
