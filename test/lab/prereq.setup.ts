// Global set-up of the `root` project (vitest.config.ts): before any test starts, every outside
// program `npm test` runs is there, or is installed (as root with apt-get), or the run stops
// with the command to run (src/runtime/prereq.ts). FTTCP_NO_INSTALL=1 turns apt-get off.
import { FAILURE_TOOLS } from '../../src/runtime/lab/failure/rig.ts';
import { KV_LOAD_TOOLS } from '../../src/runtime/lab/lab.ts';
import { CAPTURE_TOOLS } from '../../src/runtime/lab/pcap.ts';
import { LAB_TOOLS } from '../../src/runtime/lab/topology.ts';
import { requirePrereqs, type Tool } from '../../src/runtime/prereq.ts';

const TEST_TOOLS: readonly Tool[] = [
  ...LAB_TOOLS,
  ...CAPTURE_TOOLS,
  ...KV_LOAD_TOOLS,
  ...FAILURE_TOOLS, // test/failure-paths: loss and partitions with iptables-legacy
  'socat', // test/wire/tshark.root.test.ts: the unmodified client and server
  'ss', // test/wire/tshark.root.test.ts: waits for socat to listen
  'pgrep', // test/lab/failover-then-local.test.ts
  'java', // test/tla/tlc.root.test.ts: TLC on the CI models
  // The unit project's test/runtime/kv.test.ts, run by the same `npm test`.
  'redis-cli',
];

export default function setup(): void {
  requirePrereqs({ what: 'the root tests', tools: TEST_TOOLS, lab: true });
}
