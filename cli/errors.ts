/** Exit codes that scripts can rely on (docs/cli.md "Exit codes", and `hello-fleet --help`). */
export const EXIT = {
  /** The command did what it was asked: the server is READY, TERMINATED, listed, ... */
  ok: 0,
  /** The operation failed: FAILED, TEARDOWN_FAILED, or the server is not in a state that allows it. */
  failed: 1,
  /** Usage error: unknown command or option, a bad value (here or as the API's 400 answer). */
  usage: 2,
  /** No such server. */
  notFound: 3,
  /** The target cannot be reached, or its configuration is missing or refused (no local cloud, bad API key). */
  unreachable: 4,
  /** Interrupted (Ctrl-C) while following: the workflow goes on. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `
Exit codes:
  0    success (READY, TERMINATED, or the information asked for)
  1    the operation failed (FAILED, TEARDOWN_FAILED, or not possible in the server's state)
  2    usage error (unknown command or option, bad value)
  3    server not found
  4    cannot reach the target, or its configuration is missing or refused
  130  interrupted (Ctrl-C): following stopped, the workflow goes on`;

/** An error the CLI reports in one sentence (with what to do next) and exits with. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** The request field the API named in a 400, when it named one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/**
 * The API turned a request away for its limits and it is worth asking again later: 429 from the usage
 * plan (`rate`: Too Many Requests; `quota`: Limit Exceeded) or 503 (`unavailable`). Exit code 4 when a
 * command gives up; a follow never does (cli/follow.ts).
 */
export class ThrottledError extends CliError {
  override readonly name = 'ThrottledError';
  constructor(
    message: string,
    readonly reason: 'rate' | 'quota' | 'unavailable',
    /** What Retry-After said, when the API sent one (API Gateway's own 429s carry none). */
    readonly retryAfterMs?: number,
  ) {
    super(message, EXIT.unreachable);
  }
}
