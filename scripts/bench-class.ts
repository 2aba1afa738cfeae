/**
 * `npm run bench -- --only class --roster 300 --throttle 0.2`: a whole class on the local cloud.
 *
 * One local cloud in this process; one POST /courses/{courseId}/servers with a roster of `roster`
 * students while the gateway answers a `throttle` share of every EC2 call with RequestLimitExceeded and
 * of every SSM call with ThrottlingException; then GET /courses/{courseId}/batches/{batchId} until the
 * class execution has ended. Reports the wall time, peak memory (MemorySampler: the Node process, and
 * moto plus the instances' processes), AWS API calls through the gateway and how many were throttled,
 * and checks the outcome in moto: duplicates (a server id with more than one instance, in any state)
 * and orphans (anything still tagged for a student whose server FAILED) must both be 0.
 */
import { DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import type { LocalCloud } from '../localcloud/index';
import { studentServerId } from '../shared/server-id';
import { TAG } from '../shared/tags';

export interface ClassBenchOptions {
  roster: number;
  throttle: number;
  timeScale: number;
  deadlineMinutes: number;
  /** Registers the local cloud's stop, for Ctrl-C. */
  onStop: (stop: () => Promise<void>) => void;
  /** Samples memory: the bench's MemorySampler. */
  sampler: (cloud: LocalCloud) => { start(): void; stop(): { nodeKiB: number; childrenKiB: number; motoKiB: number; children: number } };
  progress: (line: string) => void;
}

export interface ClassBenchResult {
  roster: number;
  throttle: number;
  timeScale: number;
  wallMs: number;
  batchStatus: string;
  counts: Record<string, number>;
  failures: unknown[];
  peak: { nodeKiB: number; childrenKiB: number; motoKiB: number; children: number };
  apiCalls: number;
  throttledCalls: number;
  /** The five busiest actions. */
  topCalls: string[];
  duplicates: number;
  orphans: number;
  ok: boolean;
}

const COURSE = 'bench-class';

const api = async (cloud: LocalCloud, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${cloud.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': cloud.apiKey, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};

const tagOf = (tags: { Key?: string; Value?: string }[] | undefined, key: string) => tags?.find((t) => t.Key === key)?.Value;

export const runClassBench = async (options: ClassBenchOptions): Promise<ClassBenchResult> => {
  const { startLocalCloud, LOCAL_STAGE, LOCAL_REGION } = await import('../localcloud/index');
  // The class is measured, not the API's usage plan (docs/api-limits.md): its polls run without one.
  const cloud = await startLocalCloud({ timeScale: options.timeScale, usagePlan: false, log: (line) => options.progress(`local cloud: ${line}`) });
  options.onStop(() => cloud.stop());
  const sampler = options.sampler(cloud);
  try {
    if (options.throttle > 0) {
      cloud.faults.add({ service: 'ec2', action: '*', error: 'RequestLimitExceeded', probability: options.throttle });
      cloud.faults.add({ service: 'ssm', action: '*', error: 'ThrottlingException', probability: options.throttle });
    }
    const students = Array.from({ length: options.roster }, (_, i) => `student-${String(i).padStart(4, '0')}`);
    const before = cloud.gateway.stats();
    sampler.start();
    const started = performance.now();
    options.progress(`class: ${options.roster} students, ${options.throttle * 100}% of EC2/SSM calls throttled, time scale ${options.timeScale}`);
    const posted = await api(cloud, 'POST', `/courses/${COURSE}/servers`, { students });
    if (posted.status !== 202) throw new Error(`POST /courses/${COURSE}/servers: ${posted.status} ${JSON.stringify(posted.body)}`);
    const deadline = Date.now() + options.deadlineMinutes * 60_000;
    let batch: Record<string, any>;
    let lastLine = 0;
    for (;;) {
      batch = (await api(cloud, 'GET', `/courses/${COURSE}/batches/${String(posted.body.batchId)}`)).body;
      if (batch.status !== 'RUNNING' || Date.now() > deadline) break;
      if (Date.now() - lastLine > 10_000) {
        lastLine = Date.now();
        options.progress(`  t=${((performance.now() - started) / 1000).toFixed(0)}s ${JSON.stringify(batch.counts)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    const wallMs = performance.now() - started;
    const peak = sampler.stop();
    const after = cloud.gateway.stats();
    const deltas = Object.entries(after)
      .map(([key, count]) => [key, count - (before[key] ?? 0)] as const)
      .filter(([key, delta]) => key !== 'faults' && delta > 0)
      .sort((a, b) => b[1] - a[1]);

    // The outcome, read from moto directly.
    const ec2 = new EC2Client({ endpoint: cloud.motoUrl, region: LOCAL_REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    const course = [{ Name: `tag:${TAG.course}`, Values: [COURSE] }];
    const instances: Instance[] = [];
    let nextToken: string | undefined;
    do {
      const page = await ec2.send(new DescribeInstancesCommand({ Filters: course, MaxResults: 1000, ...(nextToken && { NextToken: nextToken }) }));
      instances.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []));
      nextToken = page.NextToken || undefined;
    } while (nextToken !== undefined);
    const perServer = new Map<string, number>();
    for (const instance of instances) {
      const id = tagOf(instance.Tags, TAG.serverId) ?? '?';
      perServer.set(id, (perServer.get(id) ?? 0) + 1);
    }
    const duplicates = [...perServer.values()].filter((n) => n > 1).length;
    const failed = new Set(((batch.failures ?? []) as { serverId: string }[]).map((f) => f.serverId));
    const [groups, keys] = await Promise.all([
      ec2.send(new DescribeSecurityGroupsCommand({ Filters: course })),
      ec2.send(new DescribeKeyPairsCommand({ Filters: course })),
    ]);
    const roster = new Set(students.map((s) => studentServerId(LOCAL_STAGE, COURSE, s)));
    const orphaned = (id: string | undefined) => id === undefined || failed.has(id) || !roster.has(id);
    const orphans =
      instances.filter((i) => i.State?.Name !== 'terminated' && orphaned(tagOf(i.Tags, TAG.serverId))).length +
      (groups.SecurityGroups ?? []).filter((g) => orphaned(tagOf(g.Tags, TAG.serverId))).length +
      (keys.KeyPairs ?? []).filter((k) => orphaned(tagOf(k.Tags, TAG.serverId))).length;
    ec2.destroy();
    const counts = batch.counts as Record<string, number>;
    return {
      roster: options.roster,
      throttle: options.throttle,
      timeScale: options.timeScale,
      wallMs,
      batchStatus: String(batch.status),
      counts,
      failures: batch.failures ?? [],
      peak,
      apiCalls: deltas.reduce((total, [, n]) => total + n, 0),
      throttledCalls: (after.faults ?? 0) - (before.faults ?? 0),
      topCalls: deltas.slice(0, 5).map(([key, n]) => `${key} ${n}`),
      duplicates,
      orphans,
      ok: batch.status === 'SUCCEEDED' && counts.READY === options.roster && duplicates === 0 && orphans === 0,
    };
  } finally {
    await cloud.stop();
  }
};

export const classTable = (r: ClassBenchResult): string => {
  const mib = (kib: number) => (kib / 1024).toFixed(0);
  return [
    '| roster | throttled share | time scale | wall s | batch | READY | FAILED | peak RSS node MiB | peak RSS moto + instances MiB | AWS API calls | throttled | duplicates | orphans |',
    '|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${r.roster} | ${r.throttle} | ${r.timeScale} | ${(r.wallMs / 1000).toFixed(1)} | ${r.batchStatus} | ${r.counts.READY ?? 0} | ${r.counts.FAILED ?? 0} | ${mib(r.peak.nodeKiB)} | ${mib(r.peak.childrenKiB)} | ${r.apiCalls} | ${r.throttledCalls} | ${r.duplicates} | ${r.orphans} |`,
    '',
    `Busiest actions: ${r.topCalls.join(', ')}.`,
  ].join('\n');
};
