// A minimal typed client: queries and mutations over fetch (GraphQL over
// HTTP), the subscription over graphql-ws. The token is the gateway's JWT.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';

export interface GatewayError {
  message: string;
  extensions?: { code?: string };
}

export class Gateway {
  private ws?: Client;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** Runs a query or mutation; resolves with its typed data or throws its errors. */
  async request<TResult, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
  ): Promise<TResult> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json',
        Authorization: `Bearer ${this.token}`,
      },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const body = (await response.json()) as { data?: TResult | null; errors?: GatewayError[] };
    if (body.errors?.length || body.data == null) {
      throw new Error(body.errors?.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; ') ?? `HTTP ${response.status}`);
    }
    return body.data;
  }

  /** Subscribes; onNext gets each typed push. Returns the unsubscribe function. */
  subscribe<TResult>(
    document: TypedDocumentNode<TResult, Record<string, never>>,
    onNext: (data: TResult) => void,
    onError: (error: unknown) => void = console.error,
  ): () => void {
    this.ws ??= createClient({
      url: this.url.replace(/^http/, 'ws'),
      connectionParams: { Authorization: `Bearer ${this.token}` },
    });
    return this.ws.subscribe<TResult>(
      { query: print(document) },
      {
        next: (result) => result.data && onNext(result.data),
        error: onError,
        complete: () => {},
      },
    );
  }
}
