import { defineConfig } from 'vitest/config';

// Two projects: `unit` needs nothing but Node; `lab` needs root, network namespaces and
// TUN, and runs its files one at a time because they share the lab's fixed names.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/wire/**/*.test.ts', 'test/machines/**/*.test.ts', 'test/tla/**/*.test.ts', 'test/runtime/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
