// Runs the graphql-http server audits (GraphQL over HTTP conformance)
// against a running gateway and exits non-zero unless every audit, MUST,
// SHOULD and MAY alike, passes. The gateway authenticates every request, so
// the audits' requests carry a bearer token.
//
//   node audit.mjs http://127.0.0.1:8080/graphql TOKEN
import { auditServer } from 'graphql-http';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node audit.mjs URL TOKEN');
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const r of results) {
  if (r.status === 'ok') continue;
  failed++;
  const body = r.response ? await r.response.text().catch(() => '') : '';
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}${body ? `\n  body: ${body.slice(0, 300)}` : ''}`);
}
console.log(`${results.length - failed} of ${results.length} audits passed`);
process.exit(failed === 0 ? 0 : 1);
