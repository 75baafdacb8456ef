// The page: shows the viewer, a page of projects with an edit button that
// exists only where the viewer may edit, and hides it the moment access
// changes (accessChanged). Open index.html?token=<JWT> on the gateway's
// origin (or one in CORS_ORIGINS).
import { Gateway } from './client';
import { AccessChanged, CanEdit, Me, ProjectsPage, RenameProject } from './operations';

const token = new URLSearchParams(location.search).get('token') ?? '';
const gateway = new Gateway(`${location.origin}/graphql`, token);
const app = document.querySelector<HTMLDivElement>('#app')!;

async function render(): Promise<void> {
  const { me } = await gateway.request(Me, {});
  if (!me) {
    app.textContent = 'Not signed in.';
    return;
  }
  const { projects } = await gateway.request(ProjectsPage, { first: 20 });
  app.innerHTML = '';
  const title = document.createElement('h1');
  title.textContent = `${me.name} (${me.permissions.join(', ')})`;
  app.append(title);
  for (const edge of projects.edges ?? []) {
    const project = edge?.node;
    if (!project) continue;
    const row = document.createElement('p');
    row.textContent = `${project.program.name} / ${project.name} `;
    const { me: can } = await gateway.request(CanEdit, { on: project.id });
    if (can?.can) {
      const edit = document.createElement('button');
      edit.textContent = 'rename';
      edit.onclick = async () => {
        const name = prompt('New name', project.name);
        if (name) {
          const { updateProject } = await gateway.request(RenameProject, { id: project.id, name });
          row.firstChild!.textContent = `${project.program.name} / ${updateProject.name} `;
        }
      };
      row.append(edit);
    }
    app.append(row);
  }
}

// Re-render whenever the gateway says the viewer's access changed.
gateway.subscribe(AccessChanged, (data) => {
  console.info('access changed', data.accessChanged.permissions, data.accessChanged.scopeSummary.accessibleProjectCount);
  void render();
});
void render();
