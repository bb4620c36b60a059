// Local recovery of the RESP KV server on the NSW, driven by clients no one here wrote
// (Debian's redis-benchmark) plus a client that checks every reply (SET/GET/INCR with exact
// expected answers). The application is killed (-9) mid-run; every client must finish
// without an error and the client capture must show no RST and no unasked FIN.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvResult } from '../../src/runtime/lab/kvclient.ts';
import { KV_CLIENT_OPS, Lab, REDIS_BENCHMARK_TESTS } from '../../src/runtime/lab/lab.ts';
import { waitExit } from '../../src/runtime/lab/procs.ts';
import { appPid, clientCapture, expectCaptureClean, sleep, waitFor } from './helpers.ts';

describe('local recovery, KV with redis-benchmark', () => {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await Lab.create('local-kv');
  });
  afterAll(async () => {
    await lab?.close();
  });

  it('redis-benchmark and a reply-checking client finish cleanly across an application kill', async () => {
    if (!lab) throw new Error('lab not up');
    await lab.startLogger(['--lease-ms', '60000']);
    const ssw = await lab.startFtTcpPrimary({ app: 'kv' });
    const cap = await clientCapture(lab, 'client');
    const { kv, rb } = lab.startKvLoad({ benchRequests: 20_000, clientTimeoutMs: 90_000 });
    await waitFor(kv, 'connected');
    await sleep(1500);
    const before = appPid(ssw);
    lab.fault('application killed (SIGKILL)', { until: 'live' });
    process.kill(before, 'SIGKILL');
    expect(await waitExit(rb, 120_000)).toBe(0);
    expect(await waitExit(kv, 120_000)).toBe(0);
    const r = kv.events.at(-1) as unknown as KvResult;
    expect(r.error, JSON.stringify(r)).toBeUndefined();
    expect(r.replies).toBe(3 * KV_CLIENT_OPS + 1);
    expect(appPid(ssw)).not.toBe(before);
    const csv = readFileSync(rb.outPath, 'utf8');
    for (const t of REDIS_BENCHMARK_TESTS) expect(csv).toContain(`"${t}"`);
    await expectCaptureClean(cap);
  });
});
