import { optionalEnv, stageFromEnv } from '../../shared/config';
import { ConfigurationError } from '../../shared/errors';
import { DEFAULT_HEALTH_CHECK_TIMEOUT_MS, checkHealth, healthCheckUrl, parseProxyUrl } from '../../shared/health';
import { stepHandler } from '../../shared/middleware';
import { APP_PORT } from '../../shared/names';
import type { HealthCheckResult } from '../../shared/types';

// Read at cold start so a broken deployment fails before it touches an instance.
stageFromEnv();
const proxyUrl = parseProxyUrl(optionalEnv('HEALTH_CHECK_PROXY_URL'));
const timeoutMs = Number(optionalEnv('HEALTH_CHECK_TIMEOUT_MS') ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS);
if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
  throw new ConfigurationError('HEALTH_CHECK_TIMEOUT_MS must be a positive number of milliseconds');
}

export interface HealthCheckInput {
  serverId: string;
  publicIp: string;
  /** Default 8000, the tutorial's port. */
  port?: number;
}

/**
 * Backs the `HealthCheck` state: one `GET http://<publicIp>:<port>/` with a short timeout
 * (HEALTH_CHECK_TIMEOUT_MS, default 5000), through Node's global fetch. It passes only on a 200 whose
 * body is the JSON `{"Hello":"World"}`.
 *
 * When HEALTH_CHECK_PROXY_URL is set (the local cloud: `http://127.0.0.1:<port>`), the request goes to
 * that HTTP proxy instead, in absolute form (`GET http://<publicIp>:<port>/`, Host `<publicIp>:<port>`),
 * over node:http: the proxy reaches the emulated instance's address, which this process cannot.
 *
 * @param input `{ serverId, publicIp, port }`
 * @returns HealthCheckResult `{ url, statusCode: 200, body: { Hello: 'World' } }`
 * @throws HealthCheckNotReadyError (transient: retried with backoff) for a refused or reset
 *   connection, a timeout or a non-200 status.
 * @throws UnexpectedBodyError (terminal) for a 200 with another body, with an excerpt of it.
 * @throws ValidationError (terminal) when publicIp is not an IP address or port is out of range.
 */
export const lambdaHandler = async (input: HealthCheckInput): Promise<HealthCheckResult> =>
  checkHealth(healthCheckUrl(input.publicIp, input.port ?? APP_PORT), {
    timeoutMs,
    ...(proxyUrl !== undefined && { proxyUrl }),
  });

export const handler = stepHandler('HealthCheck', lambdaHandler);
