import { request as httpRequest } from 'node:http';
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { ConfigurationError, HealthCheckNotReadyError, UnexpectedBodyError, ValidationError } from './errors';
import type { HealthCheckResult } from './types';

/** What the tutorial's `GET /` answers. */
export const EXPECTED_BODY = { Hello: 'World' } as const;

export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 5000;

const MAX_EXCERPT = 200;

export interface HealthCheckOptions {
  /** Gives up (HealthCheckNotReadyError) after this long, body included. Default 5000. */
  timeoutMs?: number;
  /**
   * An HTTP proxy (`http://127.0.0.1:3128`) to send the request through, as an absolute-form request
   * (`GET http://<ip>:<port>/ HTTP/1.1` to the proxy). The local cloud sets it: its instances' "public"
   * addresses are reachable only through its proxy.
   */
  proxyUrl?: string;
}

/** `http://<ip>:<port>/`, for an IPv4 or IPv6 literal only: the workflow never checks a host name. */
export const healthCheckUrl = (ip: string, port: number): string => {
  const family = isIP(ip);
  if (family === 0) throw new ValidationError(`publicIp must be an IP address, got "${ip}"`, 'publicIp');
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ValidationError(`port must be 1-65535, got ${String(port)}`, 'port');
  }
  return `http://${family === 6 ? `[${ip}]` : ip}:${port}/`;
};

/** The proxy URL from the environment, checked once at cold start. */
export const parseProxyUrl = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigurationError(`HEALTH_CHECK_PROXY_URL is not a URL: "${value}"`);
  }
  if (url.protocol !== 'http:') throw new ConfigurationError(`HEALTH_CHECK_PROXY_URL must be http://, got "${value}"`);
  return url.toString();
};

const excerpt = (text: string): string => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_EXCERPT ? `${flat.slice(0, MAX_EXCERPT - 1)}…` : flat;
};

interface RawResponse {
  statusCode: number;
  text: string;
}

const directGet = async (url: string, timeoutMs: number): Promise<RawResponse> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  return { statusCode: response.status, text: await response.text() };
};

/** An absolute-form request to the proxy, so global fetch needs no dispatcher (undici is not a dependency). */
const proxiedGet = (url: string, proxyUrl: string, timeoutMs: number): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const proxy = new URL(proxyUrl);
    const target = new URL(url);
    const req = httpRequest(
      {
        host: proxy.hostname.replace(/^\[|\]$/g, ''),
        port: proxy.port === '' ? 80 : Number(proxy.port),
        method: 'GET',
        path: url,
        headers: { Host: target.host },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });

/** Why a request failed, in a few words: `ECONNREFUSED`, `timed out after 5000 ms`. */
const reasonOf = (error: unknown, timeoutMs: number): string => {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `timed out after ${timeoutMs} ms`;
  }
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  const code = (error as { code?: string } | undefined)?.code ?? cause?.code;
  const message = error instanceof Error ? error.message : String(error);
  return code !== undefined ? `${code} (${cause?.message ?? message})` : (cause?.message ?? message);
};

/**
 * GETs `url` once and passes only when the status is 200 and the body is the JSON `{"Hello":"World"}`.
 *
 * @throws HealthCheckNotReadyError (transient) for a refused or reset connection, a timeout, or a
 *   status other than 200.
 * @throws UnexpectedBodyError (terminal) for a 200 whose body is anything else, with an excerpt.
 */
export const checkHealth = async (url: string, options: HealthCheckOptions = {}): Promise<HealthCheckResult> => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS;
  let response: RawResponse;
  try {
    response =
      options.proxyUrl === undefined
        ? await directGet(url, timeoutMs)
        : await proxiedGet(url, options.proxyUrl, timeoutMs);
  } catch (error) {
    throw new HealthCheckNotReadyError(`GET ${url}: ${reasonOf(error, timeoutMs)}`, { cause: error });
  }

  if (response.statusCode !== 200) {
    throw new HealthCheckNotReadyError(`GET ${url}: HTTP ${response.statusCode}: ${excerpt(response.text)}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch {
    throw new UnexpectedBodyError(`GET ${url}: HTTP 200 but not JSON: ${excerpt(response.text)}`);
  }
  if (!isDeepStrictEqual(body, EXPECTED_BODY)) {
    throw new UnexpectedBodyError(`GET ${url}: HTTP 200 but not {"Hello":"World"}: ${excerpt(response.text)}`);
  }
  return { url, statusCode: 200, body };
};
