/// <reference types="vite/client" />

// The build-time settings (README: Ship it).
interface ImportMetaEnv {
  readonly VITE_GATEWAY_URL?: string;
  readonly VITE_OIDC_ISSUER?: string;
  readonly VITE_OIDC_CLIENT_ID?: string;
  readonly VITE_OIDC_AUDIENCE?: string;
  readonly VITE_OIDC_SCOPE?: string;
}
