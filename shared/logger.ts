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
  private keys: Record<string, unknown> = {};
  private readonly threshold: number;

  constructor(
    private readonly service: string,
    level: string = process.env.LOG_LEVEL ?? 'INFO',
    private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  ) {
    this.threshold = LEVELS[level.toUpperCase() as Level] ?? LEVELS.INFO;
  }

  /** Keys for every following line of this invocation (`serverId`, `step`). */
  appendKeys(keys: Record<string, unknown>): void {
    this.keys = { ...this.keys, ...keys };
  }

  resetKeys(): void {
    this.keys = {};
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
      ...this.keys,
      ...extra,
    });
    this.write(JSON.stringify(line));
  }
}

export const logger = new Logger(process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'hello-fleet');
