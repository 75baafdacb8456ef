// The gateway's client: queries and mutations over fetch (GraphQL over HTTP),
// accessChanged over graphql-ws. Errors come back by their code
// (extensions.code): UNAUTHENTICATED ends the session, RATE_LIMITED is
// retried after the delay the gateway asks for, the others are shown.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';

/** An error of the gateway, by its code. */
export class GatewayError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface WireError {
  message: string;
  extensions?: { code?: string };
}

/** How often a request over its rate limit is retried before giving up. */
const rateLimitRetries = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Gateway {
  private ws?: Client;

  /**
   * @param url the gateway's /graphql URL
   * @param token the bearer token (the gateway's own, or the identity provider's)
   * @param onSignedOut called once the gateway no longer accepts the token
   *   (expired, or the user deactivated): on a request or on the socket
   */
  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly onSignedOut: (reason: string) => void,
  ) {}

  /** Runs a query or mutation; resolves with its typed data or throws a GatewayError. */
  async request<TResult, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
  ): Promise<TResult> {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/graphql-response+json, application/json',
          Authorization: `Bearer ${this.token}`,
        },
        body: JSON.stringify({ query: print(document), variables }),
      });
      if (response.status === 429 && attempt < rateLimitRetries) {
        // The gateway says when to come back (seconds).
        const seconds = Number(response.headers.get('Retry-After') ?? '1');
        await sleep(Math.max(seconds, 0.1) * 1000);
        continue;
      }
      let body: { data?: TResult | null; errors?: WireError[] };
      try {
        body = await response.json();
      } catch {
        throw new GatewayError('UNAVAILABLE', `The gateway answered HTTP ${response.status}.`);
      }
      const error = body.errors?.[0];
      if (error) {
        const code = error.extensions?.code ?? 'INTERNAL';
        if (code === 'UNAUTHENTICATED') this.onSignedOut(error.message);
        throw new GatewayError(code, error.message);
      }
      if (body.data == null) throw new GatewayError('UNAVAILABLE', `The gateway answered HTTP ${response.status}.`);
      return body.data;
    }
  }

  /**
   * Subscribes; onNext gets each typed push. The socket reconnects with
   * exponential backoff (1 s, 2 s, 4 s... at most 30 s, with jitter) and
   * sends connection_init again each time. A socket the gateway closes with
   * 4403 (token expired, user deactivated) signs out instead.
   */
  subscribe<TResult>(document: TypedDocumentNode<TResult, Record<string, never>>, onNext: (data: TResult) => void): () => void {
    this.ws ??= createClient({
      url: new URL(this.url, location.href).href.replace(/^http/, 'ws'),
      connectionParams: () => ({ Authorization: `Bearer ${this.token}` }),
      lazy: false,
      retryAttempts: Infinity,
      retryWait: async (retries) => {
        await sleep(Math.min(1000 * 2 ** retries, 30_000) * (0.5 + Math.random() / 2));
      },
      shouldRetry: (event) => !isForbidden(event),
      on: {
        closed: (event) => {
          if (isForbidden(event)) this.onSignedOut('The gateway ended the session.');
        },
      },
    });
    return this.ws.subscribe<TResult>(
      { query: print(document) },
      {
        next: (result) => result.data && onNext(result.data),
        error: (error) => console.warn('accessChanged:', error),
        complete: () => {},
      },
    );
  }

  /** Closes the socket. */
  close(): void {
    void this.ws?.dispose();
  }
}

function isForbidden(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'code' in event && (event as CloseEvent).code === 4403;
}
