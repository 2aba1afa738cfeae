import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * One JSON logger for every function. Each line carries the keys appended for the invocation (the
 * server id above all). Anything that looks like key material is replaced before it is written, so a
 * careless log call can't leak a private key into CloudWatch.
 */
type Level = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
const LEVELS: Record<Level, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40 };

const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g;

export const redact = (value: unknown): unknown => {
  if (typeof value === 'string') return value.replace(PRIVATE_KEY, '[REDACTED PRIVATE KEY]');
  if (Array.isArray(value)) return value.map(redact);
  if (value instanceof Error) {
    return { name: value.name, message: redact(value.message) };
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, /keymaterial|privatekey/i.test(k) ? '[REDACTED]' : redact(v)]),
    );
  }
  return value;
};

export class Logger {
  /**
   * The invocation's keys live in the async context, not on the instance: on Lambda one invocation
   * runs at a time anyway, but the local cloud runs many executions' steps in one process, and each
   * line must carry its own server's id.
   */
  private readonly context = new AsyncLocalStorage<Record<string, unknown>>();
  private readonly threshold: number;

  constructor(
    private readonly service: string,
    level: string = process.env.LOG_LEVEL ?? 'INFO',
    // Lambda sends both streams to CloudWatch; the local cloud keeps stdout for its own machine-read lines.
    private readonly write: (line: string) => void = (line) =>
      (process.env.LOG_DESTINATION === 'stderr' ? process.stderr : process.stdout).write(`${line}\n`),
  ) {
    this.threshold = LEVELS[level.toUpperCase() as Level] ?? LEVELS.INFO;
  }

  /** Keys for every following line of this invocation (`serverId`, `step`). */
  appendKeys(keys: Record<string, unknown>): void {
    this.context.enterWith({ ...this.context.getStore(), ...keys });
  }

  resetKeys(): void {
    this.context.enterWith({});
  }

  debug(message: string, extra?: Record<string, unknown>): void {
    this.log('DEBUG', message, extra);
  }
  info(message: string, extra?: Record<string, unknown>): void {
    this.log('INFO', message, extra);
  }
  warn(message: string, extra?: Record<string, unknown>): void {
    this.log('WARN', message, extra);
  }
  error(message: string, extra?: Record<string, unknown>): void {
    this.log('ERROR', message, extra);
  }

  private log(level: Level, message: string, extra?: Record<string, unknown>): void {
    if (LEVELS[level] < this.threshold) return;
    const line = redact({
      level,
      timestamp: new Date().toISOString(),
      service: this.service,
      message,
      ...this.context.getStore(),
      ...extra,
    });
    this.write(JSON.stringify(line));
  }
}

export const logger = new Logger(process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'hello-fleet');
