// One reader thread per fd. It waits in poll(2) (a real blocking wait: no spinning, no libuv
// threadpool round trip), drains every packet the fd has with non-blocking reads, and posts
// them to the main thread as one batch (transferred, not copied). Batches in flight are
// bounded: past `maxInflight` the reader stops reading, so a slow main thread makes the kernel
// queue (and drop, as a network may) instead of this process growing without bound.
//
// Batch layout: repeated [u32 little-endian length][length bytes], padded to 4.
import { parentPort, workerData } from 'node:worker_threads';
import { pollFds, sysPoll, sysReadNb } from '../sys/libc.ts';

export interface ReaderData {
  fd: number;
  /** Int32Array view: [0] stop flag, [1] batches in flight */
  shared: SharedArrayBuffer;
  maxInflight: number;
  maxBatchPackets: number;
  maxBatchBytes: number;
}

const d = workerData as ReaderData;
const ctl = new Int32Array(d.shared);
const pfd = pollFds([d.fd]);
const scratch = new Uint8Array(65536);
const POLL_MS = 200;

const loop = (): void => {
  while (Atomics.load(ctl, 0) === 0) {
    const inflight = Atomics.load(ctl, 1);
    if (inflight >= d.maxInflight) {
      Atomics.wait(ctl, 1, inflight, POLL_MS);
      continue;
    }
    if (sysPoll(pfd, 1, POLL_MS) === 0) continue;
    let batch = new Uint8Array(d.maxBatchBytes + 65536 + 8);
    let off = 0;
    let count = 0;
    while (count < d.maxBatchPackets && off < d.maxBatchBytes) {
      const n = sysReadNb(d.fd, scratch);
      if (n <= 0) break; // -1: drained (EAGAIN); 0: nothing
      new DataView(batch.buffer).setUint32(off, n, true);
      batch.set(scratch.subarray(0, n), off + 4);
      off += 4 + ((n + 3) & ~3);
      count++;
    }
    if (count === 0) continue;
    if (off < batch.byteLength / 2) batch = batch.slice(0, off);
    Atomics.add(ctl, 1, 1);
    parentPort?.postMessage({ buf: batch.buffer, len: off, count }, [batch.buffer]);
  }
};

loop();
