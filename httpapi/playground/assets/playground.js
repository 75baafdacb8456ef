// The playground: GraphiQL from the gateway's own assets (no CDN), talking
// to this gateway's /graphql. Paste a token into the Headers tab once: it is
// kept in this browser (localStorage) for the next visits.
(function () {
  var url = window.location.origin + '/graphql';
  var fetcher = GraphiQL.createFetcher({ url: url });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: 'headers',
      // Short lines: the editors are half a window wide.
      defaultHeaders: JSON.stringify({ Authorization: 'Bearer <token>' }, null, 2),
      defaultQuery: [
        '# authz-gateway: ' + url,
        '# 1. Get a token:',
        '#    go run . token --email you@example.com',
        '# 2. Paste it into Headers (below)',
        '#    in place of <token>.',
        '# 3. Run this query (the play button):',
        '{',
        '  me {',
        '    email',
        '    permissions',
        '    scopeSummary {',
        '      hasGlobalScope',
        '      accessibleProgramCount',
        '      accessibleProjectCount',
        '    }',
        '  }',
        '}',
        '',
      ].join('\n'),
    }),
  );
})();
