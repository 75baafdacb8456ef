// The app: sign in, then the viewer's programs and projects, a page at a
// time; per-row actions only where `checkAccess` allows them, with a "why?"
// that shows explainAccess; live updates from accessChanged. The page is
// rebuilt from its state on every change, so a push never duplicates a row.
import './style.css';
import { Gateway, GatewayError } from './client';
import { AccessChanged, Checks, Me, ProgramsPage, ProjectsPage, RenameProject, WhyWrite } from './operations';
import type { MeQuery, ProgramsPageQuery, ProjectsPageQuery, WhyWriteQuery } from './gql/graphql';
import { finishProviderSignIn, forgetToken, loadConfig, provider, savedToken, saveToken, signInWithProvider } from './session';

let gatewayURL = '/graphql';
const pageSize = 10;

type Viewer = NonNullable<MeQuery['me']>;
type Program = NonNullable<NonNullable<NonNullable<ProgramsPageQuery['programs']['edges']>[number]>['node']>;
type Project = NonNullable<NonNullable<NonNullable<ProjectsPageQuery['projects']['edges']>[number]>['node']>;
type Explanation = WhyWriteQuery['explainAccess'];

interface List<T> {
  items: T[];
  total: number;
  cursor: string | null;
  hasMore: boolean;
  loading: boolean;
}

const emptyList = <T>(): List<T> => ({ items: [], total: 0, cursor: null, hasMore: false, loading: true });

interface State {
  viewer: Viewer;
  programs: List<Program>;
  projects: List<Project>;
  /** Projects the viewer may write (PROJECT_WRITE), by ID. */
  writable: Set<string>;
  /** Open "why?" answers, by project ID. */
  why: Map<string, Explanation | string>;
  editing: string | null;
  /** The name being typed for the project being renamed (kept across renders). */
  draft: string;
  notice: string;
}

const root = document.querySelector<HTMLDivElement>('#app')!;
let gateway: Gateway | null = null;
let state: State | null = null;
let unsubscribe: (() => void) | null = null;
/**
 * The generation of the lists: a full reload starts a new one, and so does
 * a write the page applied itself; an answer of an older generation is
 * dropped when it arrives (answers can overtake each other, and an old one
 * must not undo a newer state).
 */
let generation = 0;

/** Builds an element: h('li.row', {dataset...}, children). */
function h(tag: string, props: Partial<HTMLElement> & Record<string, unknown> = {}, ...children: (Node | string)[]): HTMLElement {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(el.dataset, v);
    else (el as unknown as Record<string, unknown>)[k] = v;
  }
  el.append(...children);
  return el;
}

function messageOf(error: unknown): string {
  if (error instanceof GatewayError) {
    switch (error.code) {
      case 'NOT_FOUND':
        return 'That no longer exists, or you can no longer see it.';
      case 'FORBIDDEN':
        return `Not allowed: ${error.message}`;
      case 'RATE_LIMITED':
        return 'Too many requests; wait a moment and try again.';
      case 'BAD_USER_INPUT':
        return error.message;
      default:
        return `The gateway could not answer (${error.code}): ${error.message}`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

// ---- sign in and out ----

function signOut(reason = ''): void {
  unsubscribe?.();
  unsubscribe = null;
  gateway?.close();
  gateway = null;
  state = null;
  forgetToken();
  renderSignIn(reason);
}

function renderSignIn(reason = ''): void {
  const token = h('textarea', { id: 'token', rows: 4, placeholder: 'Paste a bearer token (go run . token --email you@example.com)' }) as HTMLTextAreaElement;
  const form = h(
    'form.card.sign-in',
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        if (token.value.trim()) {
          saveToken(token.value);
          void start();
        }
      },
    },
    h('h2', {}, 'Sign in'),
    reason ? h('p.error', { role: 'alert' }, reason) : '',
    token,
    h('button', { id: 'sign-in', type: 'submit' }, 'Sign in with a token'),
  );
  if (provider) {
    form.append(
      h('p.or', {}, 'or'),
      h('button.secondary', { id: 'sign-in-provider', type: 'button', onclick: () => void signInWithProvider().catch((e) => renderSignIn(messageOf(e))) }, 'Sign in with your identity provider'),
    );
  }
  root.replaceChildren(h('header.bar', {}, h('h1', {}, 'authz-gateway')), form);
}

// ---- loading ----

async function start(): Promise<void> {
  const token = savedToken();
  if (!token) return renderSignIn();
  gateway = new Gateway(gatewayURL, token, (reason) => signOut(`You were signed out: ${reason}`));
  root.replaceChildren(h('p.loading', {}, 'Loading...'));
  try {
    const { me } = await gateway.request(Me, {});
    if (!me) return signOut('The gateway does not know this token.');
    state = { viewer: me, programs: emptyList(), projects: emptyList(), writable: new Set(), why: new Map(), editing: null, draft: '', notice: '' };
    render();
    const gen = ++generation;
    await Promise.all([loadPrograms(pageSize, null, gen), loadProjects(pageSize, null, gen)]);
    // Live: every push reloads what is shown (the same number of rows).
    // The first push is sent on subscribing: it reloads too (a change may
    // have landed between the lists and the subscription) but quietly.
    let first = true;
    unsubscribe = gateway.subscribe(AccessChanged, () => {
      void refresh(first ? '' : 'Your access changed; the lists are up to date.');
      first = false;
    });
  } catch (error) {
    if (state) show(messageOf(error));
    else if (gateway) renderUnreachable(messageOf(error));
  }
}

// renderUnreachable replaces "Loading..." when the very first request
// failed: what went wrong, the usual causes, and a way to try again.
function renderUnreachable(message: string): void {
  root.replaceChildren(
    h(
      'section.card.error',
      { id: 'unreachable', role: 'alert' },
      h('h2', {}, 'The gateway did not answer'),
      h('p', {}, message),
      h(
        'p.muted',
        {},
        `Is it running at ${gatewayURL}? If this page is served from another origin, the gateway must allow it: ` +
          `start it with CORS_ORIGINS=${location.origin}. The gateway's address comes from config.json beside this page.`,
      ),
      h('button', { id: 'retry', type: 'button', onclick: () => void start() }, 'Try again'),
      h('button.secondary', { type: 'button', onclick: () => signOut() }, 'Sign out'),
    ),
  );
}

// count says n things, singular or plural.
function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

async function loadPrograms(first: number, after: string | null, gen = generation): Promise<void> {
  const s = state!;
  s.programs.loading = true;
  render();
  const { programs } = await gateway!.request(ProgramsPage, { first, after });
  if (gen !== generation || state !== s) return;
  const page = (programs.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
  s.programs = {
    items: after ? mergeByID(s.programs.items, page) : page,
    total: programs.totalCount,
    cursor: programs.pageInfo.endCursor ?? null,
    hasMore: programs.pageInfo.hasNextPage,
    loading: false,
  };
  render();
}

async function loadProjects(first: number, after: string | null, gen = generation): Promise<void> {
  const s = state!;
  s.projects.loading = true;
  render();
  const { projects } = await gateway!.request(ProjectsPage, { first, after });
  const page = (projects.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
  const items = after ? mergeByID(s.projects.items, page) : page;
  // Which rows get a rename button: one request for the page's checks.
  const { checkAccess } = await gateway!.request(Checks, {
    checks: page.map((p) => ({ userId: s.viewer.id, permission: 'PROJECT_WRITE' as const, on: p.id })),
  });
  if (gen !== generation || state !== s) return;
  if (!after) s.writable.clear();
  page.forEach((p, i) => (checkAccess[i] ? s.writable.add(p.id) : s.writable.delete(p.id)));
  s.projects = {
    items,
    total: projects.totalCount,
    cursor: projects.pageInfo.endCursor ?? null,
    hasMore: projects.pageInfo.hasNextPage,
    loading: false,
  };
  render();
}

function mergeByID<T extends { id: string }>(have: T[], page: T[]): T[] {
  const seen = new Set(have.map((x) => x.id));
  return [...have, ...page.filter((x) => !seen.has(x.id))];
}

/** After a push: the viewer and as many rows as are shown, afresh. */
async function refresh(notice: string): Promise<void> {
  const s = state;
  if (!s || !gateway) return;
  try {
    const { me } = await gateway.request(Me, {});
    if (!me) return signOut('The gateway no longer knows this user.');
    s.viewer = me;
    const gen = ++generation;
    await Promise.all([
      loadPrograms(Math.max(s.programs.items.length, pageSize), null, gen),
      loadProjects(Math.max(s.projects.items.length, pageSize), null, gen),
    ]);
    // Open explanations are asked again: the access they explain changed.
    for (const id of [...s.why.keys()]) {
      const project = s.projects.items.find((p) => p.id === id);
      s.why.delete(id);
      if (project) await explain(project);
    }
    if (notice) show(notice);
  } catch (error) {
    show(messageOf(error));
  }
}

function show(notice: string): void {
  if (!state) return;
  state.notice = notice;
  render();
}

// ---- actions ----

async function rename(project: Project, name: string): Promise<void> {
  try {
    const { updateProject } = await gateway!.request(RenameProject, { id: project.id, name });
    const s = state!;
    generation++; // a reload already under way read the old name
    s.projects.items = s.projects.items.map((p) => (p.id === updateProject.id ? { ...p, name: updateProject.name } : p));
    s.editing = null;
    show(`Renamed to ${updateProject.name}.`);
    void refresh(''); // and whatever it carried besides, afresh
  } catch (error) {
    show(messageOf(error));
  }
}

async function explain(project: Project): Promise<void> {
  const s = state!;
  if (s.why.has(project.id)) {
    s.why.delete(project.id);
    return render();
  }
  try {
    const { explainAccess } = await gateway!.request(WhyWrite, { user: s.viewer.id, on: project.id });
    s.why.set(project.id, explainAccess);
  } catch (error) {
    s.why.set(project.id, messageOf(error));
  }
  render();
}

// ---- rendering ----

function render(): void {
  const s = state;
  if (!s) return;
  const v = s.viewer;
  root.replaceChildren(
    h(
      'header.bar',
      {},
      h('h1', {}, 'authz-gateway'),
      h('span.who', { id: 'who' }, `${v.name} <${v.email}>`),
      h('button.secondary', { id: 'sign-out', onclick: () => signOut() }, 'Sign out'),
    ),
    s.notice ? h('p.notice', { id: 'notice', role: 'status' }, s.notice) : '',
    h(
      'section.card.summary',
      {},
      h('h2', {}, 'Your access'),
      h('p', {}, v.permissions.length ? '' : 'No permissions yet: ask an admin for a role and a scope.'),
      h('ul.chips', {}, ...v.permissions.map((p) => h('li', {}, p))),
      h(
        'p.muted',
        {},
        v.scopeSummary.hasGlobalScope ? 'Everywhere (GLOBAL). ' : '',
        `${count(v.scopeSummary.accessibleProgramCount, 'program', 'programs')}, ${count(v.scopeSummary.accessibleProjectCount, 'project', 'projects')}.`,
      ),
    ),
    listSection('Programs', 'programs', s.programs, (p) => h('li.row', { dataset: { id: p.id } }, h('span.name', {}, p.name), p.description ? h('span.muted', {}, p.description) : ''), () =>
      loadPrograms(pageSize, s.programs.cursor),
    ),
    listSection('Projects', 'projects', s.projects, projectRow, () => loadProjects(pageSize, s.projects.cursor)),
  );
}

function listSection<T>(title: string, id: string, list: List<T>, row: (item: T) => HTMLElement, more: () => Promise<void>): HTMLElement {
  const body: (Node | string)[] = [];
  if (list.items.length === 0 && list.loading) body.push(h('p.loading', {}, 'Loading...'));
  else if (list.items.length === 0) body.push(h('p.empty', {}, `No ${title.toLowerCase()} you can see.`));
  else body.push(h('ul.rows', {}, ...list.items.map(row)));
  if (list.hasMore) {
    body.push(
      h('button.more.secondary', { disabled: list.loading, onclick: () => void more().catch((e) => show(messageOf(e))) }, list.loading ? 'Loading...' : 'Load more'),
    );
  }
  return h(`section.card`, { id }, h('h2', {}, `${title} `, h('span.count', {}, `${list.items.length} of ${list.total}`)), ...body);
}

function projectRow(p: Project): HTMLElement {
  const s = state!;
  const row = h('li.row', { dataset: { id: p.id } });
  if (s.editing === p.id) {
    const input = h('input', { value: s.draft, className: 'rename-input', oninput: () => (s.draft = input.value) }) as HTMLInputElement;
    row.append(
      h('form.inline', { onsubmit: (e: Event) => (e.preventDefault(), void rename(p, input.value)) }, input, h('button.save', { type: 'submit' }, 'Save'), h('button.secondary', { type: 'button', onclick: () => ((s.editing = null), render()) }, 'Cancel')),
    );
    queueMicrotask(() => input.focus());
    return row;
  }
  row.append(h('span.name', {}, p.name), h('span.muted', {}, p.program.name));
  const actions = h('span.actions');
  if (s.writable.has(p.id)) actions.append(h('button.rename', { onclick: () => ((s.editing = p.id), (s.draft = p.name), render()) }, 'Rename'));
  actions.append(h('a.why', { href: '#', onclick: (e: Event) => (e.preventDefault(), void explain(p)) }, s.writable.has(p.id) ? 'why?' : 'why not?'));
  row.append(actions);
  const why = s.why.get(p.id);
  if (why !== undefined) row.append(explanation(why));
  return row;
}

function explanation(why: Explanation | string): HTMLElement {
  if (typeof why === 'string') return h('div.why-box.error', {}, why);
  if (!why.allowed) return h('div.why-box', {}, `You may not rename it: missing ${why.missing.join(', ')}.`);
  // A grant held through a team says so: "PROGRAM Apollo (through team Platform)".
  const through = (team: { name: string } | null | undefined) => (team ? ` (through team ${team.name})` : '');
  const roles = why.roles.map((r) => r.role.type + through(r.team)).join(', ');
  const scopes = why.scopes
    .map((s) => (s.scopeType === 'GLOBAL' ? 'GLOBAL' : `${s.scopeType} ${s.project?.name ?? s.program?.name ?? ''}`) + through(s.team))
    .join(', ');
  return h('div.why-box', {}, `Allowed by role ${roles} with scope ${scopes}.`);
}

// ---- boot ----

loadConfig()
  .then((config) => {
    gatewayURL = config.gatewayURL;
    return finishProviderSignIn();
  })
  .then(() => start())
  .catch((error) => renderSignIn(messageOf(error)));
