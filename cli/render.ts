import ora, { type Ora } from 'ora';
import type { Json } from './api';

/** Progress of a followed workflow, one per change a poll sees. */
export type StepEvent = {
  type: 'step';
  serverId: string;
  step: string;
  state: 'started' | 'done' | 'failed';
  /** ISO time of the change (the workflow's own clock). */
  at: string;
  durationMs?: number;
};

/** Something the user should read: the server accepted, where things stand, how to resume. */
export type NoticeEvent = { type: 'accepted' | 'status' | 'interrupted' | 'notice'; serverId?: string; message: string } & Json;

export interface Renderer {
  step(event: StepEvent): void;
  notice(event: NoticeEvent): void;
  /** The command's outcome: a JSON object for scripts, lines for people. */
  result(data: Json, lines: readonly string[]): void;
  /** Stops any spinner: called on exit and on Ctrl-C. */
  close(): void;
}

export type OutputMode = 'tty' | 'plain' | 'json';

/** `7.1 s`, `2 min 05 s`. */
export const formatDuration = (ms: number): string => {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
};

/** `12:00:01` in the local time zone. */
export const clock = (iso: string): string => {
  const date = new Date(iso);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
};

const stepText = (event: StepEvent): string => {
  const duration = event.durationMs === undefined ? '' : ` ${formatDuration(event.durationMs)}`;
  if (event.state === 'started') return `${event.step} started`;
  return event.state === 'done' ? `${event.step} done in${duration}` : `${event.step} failed after${duration}`;
};

/** Not a TTY, or --plain: one line per event, `12:00:01 InstallFastAPI started`. */
export class PlainRenderer implements Renderer {
  constructor(private readonly out: NodeJS.WritableStream) {}
  step(event: StepEvent): void {
    this.out.write(`${clock(event.at)} ${stepText(event)}\n`);
  }
  notice(event: NoticeEvent): void {
    this.out.write(`${event.message}\n`);
  }
  result(_data: Json, lines: readonly string[]): void {
    for (const line of lines) this.out.write(`${line}\n`);
  }
  close(): void {}
}

/** --json: one JSON object per line and event, then the result object (`"type": "result"`). */
export class JsonRenderer implements Renderer {
  constructor(private readonly out: NodeJS.WritableStream) {}
  step(event: StepEvent): void {
    this.write(event);
  }
  notice(event: NoticeEvent): void {
    this.write(event);
  }
  result(data: Json): void {
    this.write({ type: 'result', ...data });
  }
  close(): void {}
  private write(value: unknown): void {
    this.out.write(`${JSON.stringify(value)}\n`);
  }
}

/** A terminal: a spinner (ora) on the step under way, then a ✔ or ✖ line with its duration. */
export class TtyRenderer implements Renderer {
  private spinner: Ora | undefined;
  constructor(private readonly out: NodeJS.WritableStream) {}

  step(event: StepEvent): void {
    if (event.state === 'started') {
      this.spinner?.stop();
      // discardStdin off: Ctrl-C must stay a SIGINT for the follow loop, not ora's keypress.
      this.spinner = ora({ text: event.step, stream: this.out, isEnabled: true, discardStdin: false }).start();
      return;
    }
    const spinner = this.spinner?.text === event.step ? this.spinner : ora({ text: event.step, stream: this.out, isEnabled: true, discardStdin: false });
    const duration = event.durationMs === undefined ? '' : `  ${formatDuration(event.durationMs)}`;
    if (event.state === 'done') spinner.succeed(`${event.step}${duration}`);
    else spinner.fail(`${event.step}${duration}`);
    if (spinner === this.spinner) this.spinner = undefined;
  }

  notice(event: NoticeEvent): void {
    if (event.type === 'interrupted' && this.spinner !== undefined) {
      this.spinner.warn(`${this.spinner.text} (still running)`);
      this.spinner = undefined;
    }
    this.println(event.message);
  }

  result(_data: Json, lines: readonly string[]): void {
    for (const line of lines) this.println(line);
  }

  close(): void {
    this.spinner?.stop();
    this.spinner = undefined;
  }

  private println(line: string): void {
    this.spinner?.clear();
    this.out.write(`${line}\n`);
    this.spinner?.render();
  }
}

export const rendererFor = (mode: OutputMode, out: NodeJS.WritableStream): Renderer =>
  mode === 'json' ? new JsonRenderer(out) : mode === 'tty' ? new TtyRenderer(out) : new PlainRenderer(out);
