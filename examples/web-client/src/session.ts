// The session: the bearer token, kept in sessionStorage (gone with the tab),
// from a pasted token (the gateway's `token` command) or, when the app is
// built with VITE_OIDC_ISSUER and VITE_OIDC_CLIENT_ID, from the team's
// identity provider through the authorization code flow with PKCE (a public
// client: no secret in the page).
const tokenKey = 'authz-gateway.token';
const flowKey = 'authz-gateway.pkce';

export function savedToken(): string | null {
  return sessionStorage.getItem(tokenKey);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(tokenKey, token.trim());
}

export function forgetToken(): void {
  sessionStorage.removeItem(tokenKey);
}

/** The identity provider's settings for the app (a public OIDC client). */
export interface ProviderConfig {
  issuer: string;
  clientId: string;
  audience: string;
  scope: string;
}

/** What the app needs to know: where the gateway is and who signs users in. */
export interface AppConfig {
  gatewayURL: string;
  provider: ProviderConfig | null;
}

const env = import.meta.env;
const built: AppConfig = {
  gatewayURL: env.VITE_GATEWAY_URL ?? '/graphql',
  provider: env.VITE_OIDC_ISSUER
    ? {
        issuer: env.VITE_OIDC_ISSUER,
        clientId: env.VITE_OIDC_CLIENT_ID ?? '',
        audience: env.VITE_OIDC_AUDIENCE ?? 'authz-gateway',
        scope: env.VITE_OIDC_SCOPE ?? 'openid email profile',
      }
    : null,
};

/** The identity provider the app signs in with, if any (set by loadConfig). */
export let provider: ProviderConfig | null = built.provider;

/**
 * The settings: those given at build time (VITE_*), overridden by a
 * config.json served beside index.html when there is one, so one build
 * serves every environment.
 */
export async function loadConfig(): Promise<AppConfig> {
  let config = built;
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (response.ok && response.headers.get('Content-Type')?.includes('json')) {
      const given = (await response.json()) as Partial<AppConfig>;
      config = { gatewayURL: given.gatewayURL ?? built.gatewayURL, provider: given.provider ?? built.provider };
    }
  } catch {
    // No config.json: the build's settings.
  }
  provider = config.provider;
  return config;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

async function discover(issuer: string): Promise<Discovery> {
  const response = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`The identity provider's discovery answered HTTP ${response.status}.`);
  return response.json();
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function redirectURI(): string {
  return location.origin + location.pathname;
}

/** Sends the browser to the provider's sign-in. */
export async function signInWithProvider(): Promise<void> {
  if (!provider) return;
  const { authorization_endpoint } = await discover(provider.issuer);
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(flowKey, JSON.stringify({ verifier, state }));
  const url = new URL(authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: provider.clientId,
    redirect_uri: redirectURI(),
    scope: provider.scope,
    audience: provider.audience,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.href);
}

/**
 * Finishes the provider's sign-in when the page is its redirect (?code&state):
 * exchanges the code for the access token, saves it and cleans the URL.
 * Resolves false when the page is not a redirect.
 */
export async function finishProviderSignIn(): Promise<boolean> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  if (!provider || (!code && !params.get('error'))) return false;
  history.replaceState(null, '', redirectURI());
  const flow = JSON.parse(sessionStorage.getItem(flowKey) ?? 'null') as { verifier: string; state: string } | null;
  sessionStorage.removeItem(flowKey);
  if (params.get('error')) throw new Error(params.get('error_description') ?? params.get('error') ?? 'sign-in refused');
  if (!flow || flow.state !== params.get('state')) throw new Error('The sign-in answer does not match the request; try again.');
  const { token_endpoint } = await discover(provider.issuer);
  const response = await fetch(token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: redirectURI(),
      client_id: provider.clientId,
      code_verifier: flow.verifier,
    }),
  });
  const body = (await response.json()) as { access_token?: string; error_description?: string };
  if (!response.ok || !body.access_token) throw new Error(body.error_description ?? `The token endpoint answered HTTP ${response.status}.`);
  saveToken(body.access_token);
  return true;
}
