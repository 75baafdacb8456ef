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
      defaultHeaders: JSON.stringify({ Authorization: 'Bearer <paste a token: go run . token --email you@example.com>' }, null, 2),
      defaultQuery:
        '# authz-gateway at ' + url + '\n' +
        '# Put your token in the Headers tab below, then run:\n' +
        '{\n  me {\n    email\n    permissions\n    scopeSummary { hasGlobalScope accessibleProgramCount accessibleProjectCount }\n  }\n}\n',
    }),
  );
})();
