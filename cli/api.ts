import type { ExecutionView } from '../shared/execution-view';
import { CliError, EXIT } from './errors';
import type { Target } from './target';

export type Json = Record<string, unknown>;

/** GET /servers/{serverId}: shared/server-status.ts ServerStatus, loosely typed on this side of the wire. */
export type ServerStatusBody = Json & { serverId: string; status: string };

/** The options of `up`, as POST /servers names them (shared/validation.ts). */
export interface ServerRequestBody {
  name?: string;
  instanceType?: string;
  ubuntuVersion?: string;
  keyType?: string;
  volumeSizeGiB?: number;
  appCidr?: string;
  sshCidr?: string;
  ttlHours?: number;
  owner?: string;
  course?: string;
}

const REQUEST_TIMEOUT_MS = 30_000;

/** The hello-fleet HTTP API, with its answers turned into values or CliErrors carrying the right exit code. */
export class HelloFleetApi {
  constructor(
    private readonly target: Pick<Target, 'apiUrl' | 'apiKey'>,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  createServer(body: ServerRequestBody, idempotencyKey?: string) {
    const headers: Record<string, string> = idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey };
    return this.call<Json & { serverId: string; status: string; executionArn: string }>('POST', '/servers', body, headers);
  }

  getServer(serverId: string) {
    return this.call<ServerStatusBody>('GET', `/servers/${encodeURIComponent(serverId)}`);
  }

  getExecution(serverId: string) {
    return this.call<ExecutionView>('GET', `/servers/${encodeURIComponent(serverId)}/execution`);
  }

  listServers(query: { owner?: string; course?: string; limit?: number; nextToken?: string }) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const suffix = params.size > 0 ? `?${params.toString()}` : '';
    return this.call<{ servers: Json[]; nextToken: string | null }>('GET', `/servers${suffix}`);
  }

  deleteServer(serverId: string) {
    return this.call<Json & { status: string }>('DELETE', `/servers/${encodeURIComponent(serverId)}`);
  }

  private async call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const url = `${this.target.apiUrl}${path}`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers: { 'x-api-key': this.target.apiKey, accept: 'application/json', ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const reason = (error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(`Cannot reach the API at ${this.target.apiUrl} (${reason}): check that it runs (\`npm run localcloud\`) or pass the right --api-url.`, EXIT.unreachable);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = { message: text.slice(0, 200) };
    }
    if (response.ok) return parsed as T;
    throw errorFor(response.status, parsed as Json, method, path, this.target.apiUrl);
  }
}

const errorFor = (status: number, body: Json, method: string, path: string, apiUrl: string): CliError => {
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  if (status === 400 || status === 413) {
    const field = typeof body.field === 'string' ? ` (${body.field})` : '';
    return new CliError(`The API refused the request${field}: ${message}.`, EXIT.usage);
  }
  if (status === 404 && body.error === 'ServerNotFoundError') {
    return new CliError(`${message.replace(/^no server/, 'No server')}: check the id with \`hello-fleet list\`.`, EXIT.notFound);
  }
  if (status === 404) {
    return new CliError(`The API at ${apiUrl} has no route for ${method} ${path.split('?')[0]}: is it an older deployment? Deploy this version.`, EXIT.unreachable);
  }
  if (status === 401 || status === 403) {
    return new CliError(`The API at ${apiUrl} refused the API key (${status}): pass the right --api-key or HELLO_FLEET_API_KEY.`, EXIT.unreachable);
  }
  return new CliError(`The API at ${apiUrl} answered ${status} (${message}): try again in a few seconds.`, EXIT.unreachable);
};
