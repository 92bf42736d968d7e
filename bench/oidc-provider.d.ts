/**
 * The little of node-oidc-provider's API the bench's peer uses (bench/peer-server.ts): the package ships no types,
 * and @types/oidc-provider would be one more dependency for one file.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (request: IncomingMessage, response: ServerResponse) => void;
    on(event: string, listener: (...args: never[]) => void): this;
  }
}
