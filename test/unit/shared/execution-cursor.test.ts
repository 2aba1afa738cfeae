import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from '../../../shared/execution-cursor';
import { advanceProgress, emptyProgress } from '../../../shared/execution-view';

const SERVER_ID = 'hf-abcdefghijk2';
const recorded = JSON.parse(readFileSync(new URL('../fixtures/execution-histories.json', import.meta.url), 'utf8')) as Record<string, { events: HistoryEvent[] }>;
const eventsOf = (name: string): HistoryEvent[] =>
  (recorded[name]?.events ?? []).map((event) => ({ ...event, timestamp: new Date(event.timestamp as unknown as string) }));
const encode = (json: unknown) => deflateRawSync(Buffer.from(JSON.stringify(json))).toString('base64url');

describe('the execution cursor', () => {
  it('carries a progress to the next poll unchanged, in a few hundred URL-safe characters', () => {
    // Prepare: a failed install, mid-rollback: every part of the progress is set.
    const progress = advanceProgress(emptyProgress(), 'provision', eventsOf('provisionFailedInstall').slice(0, 42));
    // Act
    const text = encodeCursor({ serverId: SERVER_ID, machine: 'provision', progress });
    const decoded = decodeCursor(text as string, SERVER_ID);
    // Assess
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(text?.length).toBeLessThan(1500);
    expect(progress.walk.firstFailure).toBeDefined();
    expect(decoded).toEqual({ serverId: SERVER_ID, machine: 'provision', progress });
  });

  it('is not issued when it would not fit a URL, so the follower reads the whole history instead', () => {
    // Prepare: a failure cause of random text (deflate cannot shrink it) longer than a cursor may be.
    const cause = Array.from({ length: 6000 }, () => String.fromCharCode(33 + Math.floor(Math.random() * 90))).join('');
    const progress = { ...emptyProgress(), walk: { states: { CheckInstall: 'caught' as const }, open: [], pending: {}, firstFailure: { state: 'CheckInstall', error: 'CommandFailedError', cause } } };
    // Act
    const text = encodeCursor({ serverId: SERVER_ID, machine: 'provision', progress });
    // Assess
    expect(text).toBeUndefined();
    expect(MAX_CURSOR_LENGTH).toBeLessThan(8192);
  });

  it('refuses, naming the field, anything but a cursor this API issued for this server', () => {
    // Prepare
    const progress = advanceProgress(emptyProgress(), 'provision', eventsOf('provisionSucceeded').slice(0, 10));
    const good = encodeCursor({ serverId: SERVER_ID, machine: 'provision', progress }) as string;
    const valid = { v: 1, serverId: SERVER_ID, machine: 'provision', progress: { ...progress, timings: [] } };
    const forged = [
      'not a cursor!',
      'A'.repeat(9000),
      Buffer.from('{"v":1}').toString('base64url'),
      encode({ ...valid, v: 2 }),
      encode({ ...valid, machine: 'class' }),
      encode({ ...valid, progress: { ...valid.progress, lastEventId: -1 } }),
      encode({ ...valid, progress: { ...valid.progress, walk: { ...valid.progress.walk, states: { A: 'exploded' } } } }),
      encode({ ...valid, progress: { ...valid.progress, step: { ...valid.progress.step, newestMain: 'Reboot' } } }),
      encode({ ...valid, progress: { ...valid.progress, timings: [{ step: 'X', startedAt: 'yesterday', state: 'running' }] } }),
    ];
    // Act & Assess
    expect(decodeCursor(encode(valid), SERVER_ID).progress.lastEventId).toBe(progress.lastEventId);
    for (const text of forged) {
      expect(() => decodeCursor(text, SERVER_ID), text.slice(0, 40)).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'cursor' }));
    }
    expect(() => decodeCursor(good, 'hf-bbbbbbbbbbbb')).toThrow(`cursor belongs to ${SERVER_ID}, not hf-bbbbbbbbbbbb`);
  });
});
