// `npm run dev` serves the app with /graphql proxied to the gateway (HTTP and
// the graphql-ws socket), so the browser sees one origin and no CORS is
// needed. GATEWAY names the gateway (default http://localhost:8080).
// `npm run build` writes static files to dist/: serve them from any origin
// listed in the gateway's CORS_ORIGINS, with VITE_GATEWAY_URL set at build
// time to the gateway's /graphql URL (default: /graphql on the page's own
// origin, for a reverse proxy in front of both).
import { defineConfig } from 'vite';

const gateway = process.env.GATEWAY ?? 'http://localhost:8080';

export default defineConfig({
  server: {
    proxy: {
      '/graphql': {
        target: gateway,
        ws: true,
        changeOrigin: true,
        // The gateway accepts sockets from its own origin and CORS_ORIGINS:
        // through the proxy, the page's origin is the gateway's.
        configure: (proxy) => {
          proxy.on('proxyReq', (req) => req.setHeader('origin', gateway));
          proxy.on('proxyReqWs', (req) => req.setHeader('origin', gateway));
        },
      },
    },
  },
  build: { outDir: 'dist', emptyOutDir: true },
});
