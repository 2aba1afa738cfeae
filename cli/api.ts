import type { ExecutionView } from '../shared/execution-view';
import { type Backoff, DEFAULT_BACKOFF, parseRetryAfter, type Sleep, sleep, throttleDelay } from './backoff';
import { CliError, EXIT, ThrottledError } from './errors';
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

export interface ApiOptions {
  /** How often a request the API throttled (429 Too Many Requests) or found unavailable (503) is retried at once. */
  throttleRetries?: number;
  backoff?: Backoff;
  sleep?: Sleep;
  random?: () => number;
  /** Aborted on Ctrl-C: no more retries. */
  signal?: AbortSignal;
}

/**
 * The hello-fleet HTTP API, with its answers turned into values or CliErrors carrying the right exit code.
 * A 429 Too Many Requests or a 503 is retried a few times with backoff (Retry-After when given): API
 * Gateway answers it before the request reaches the API, so even a POST is safe to repeat. A 429 Limit
 * Exceeded (the key's quota is spent) is not: it lasts until the quota period ends.
 */
export class HelloFleetApi {
  private readonly options: Required<Omit<ApiOptions, 'signal'>> & Pick<ApiOptions, 'signal'>;

  constructor(
    private readonly target: Pick<Target, 'apiUrl' | 'apiKey'>,
    private readonly fetchImpl: typeof fetch = fetch,
    options: ApiOptions = {},
  ) {
    this.options = { throttleRetries: 3, backoff: DEFAULT_BACKOFF, sleep, random: Math.random, ...options };
  }

  createServer(body: ServerRequestBody, idempotencyKey?: string) {
    const headers: Record<string, string> = idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey };
    return this.call<Json & { serverId: string; status: string; executionArn: string }>('POST', '/servers', body, headers);
  }

  getServer(serverId: string) {
    return this.call<ServerStatusBody>('GET', `/servers/${encodeURIComponent(serverId)}`);
  }

  /**
   * GET /servers/{serverId}/execution; with `cursor` (the previous answer's), the API reads only what is
   * new. An API that refuses the cursor (another version's) is asked again without it.
   */
  async getExecution(serverId: string, cursor?: string): Promise<ExecutionView> {
    const path = `/servers/${encodeURIComponent(serverId)}/execution`;
    if (cursor === undefined) return this.call<ExecutionView>('GET', path);
    try {
      return await this.call<ExecutionView>('GET', `${path}?cursor=${encodeURIComponent(cursor)}`);
    } catch (error) {
      if (error instanceof CliError && error.field === 'cursor') return this.call<ExecutionView>('GET', path);
      throw error;
    }
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
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.callOnce<T>(method, path, body, headers);
      } catch (error) {
        const { throttleRetries, backoff, random } = this.options;
        if (!(error instanceof ThrottledError) || error.reason === 'quota' || attempt >= throttleRetries) throw error;
        if (!(await this.options.sleep(throttleDelay(backoff, attempt, error.retryAfterMs, random), this.options.signal))) throw error;
      }
    }
  }

  private async callOnce<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
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
    if (response.status === 429 || response.status === 503) {
      throw throttledError(response.status, parsed as Json, parseRetryAfter(response.headers.get('retry-after'), Date.now()), this.target.apiUrl);
    }
    throw errorFor(response.status, parsed as Json, method, path, this.target.apiUrl);
  }
}

const throttledError = (status: number, body: Json, retryAfterMs: number | undefined, apiUrl: string): ThrottledError => {
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  if (status === 429 && message === 'Limit Exceeded') {
    return new ThrottledError(
      `The API key's request quota is used up (429 Limit Exceeded): it comes back when the usage plan's period starts again (00:00 UTC for a daily quota); to raise it, deploy with --param apiQuotaPerDay=<n> (docs/api-limits.md).`,
      'quota',
      retryAfterMs,
    );
  }
  if (status === 429) {
    return new ThrottledError(`The API at ${apiUrl} is throttling this API key (429 ${message}): too many requests a second; try again in a few seconds.`, 'rate', retryAfterMs);
  }
  return new ThrottledError(`The API at ${apiUrl} answered 503 (${message}): try again in a few seconds.`, 'unavailable', retryAfterMs);
};

const errorFor = (status: number, body: Json, method: string, path: string, apiUrl: string): CliError => {
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  if (status === 400 || status === 413) {
    const field = typeof body.field === 'string' ? body.field : undefined;
    return new CliError(`The API refused the request${field === undefined ? '' : ` (${field})`}: ${message}.`, EXIT.usage, field);
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
