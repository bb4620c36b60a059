import { defineConfig } from 'vitest/config';

// Two projects. `unit` needs nothing but Node (and redis-tools for test/runtime/kv.test.ts).
// `root` needs root, network namespaces and TUN (the lab, the failure model's paths and chaos
// in test/failure-paths, and wire tests that capture real kernel traffic: `*.root.test.ts`);
// its files run one at a time because lab tests share the lab's fixed names, and each lab a
// test closes is checked for stalls no injected failure explains (test/lab/stall-guard.ts).
// Its global set-up checks (and as root on Debian installs) every outside program `npm test`
// runs before any test starts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [
            'test/lab/**',
            'test/failure-paths/**',
            'test/**/*.root.test.ts',
            '**/node_modules/**',
          ],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'root',
          include: [
            'test/lab/**/*.test.ts',
            'test/failure-paths/**/*.test.ts',
            'test/**/*.root.test.ts',
          ],
          globalSetup: ['test/lab/prereq.setup.ts'],
          // spec/ssw.md W.7: every lab a test closes is checked for unexplained stalls.
          setupFiles: ['test/lab/stall-guard.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
