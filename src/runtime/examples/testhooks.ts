// Test hooks of the example servers: off unless their variable is set, and nothing but the
// lab's tests sets them. They let a test put the application into a state a real fault would,
// on purpose and at the moment it chooses, instead of waiting for timing luck.
//
// FTTCP_TEST_BUSY_ON_SIGUSR2=1: on SIGUSR2 the application's event loop spins forever (a
// handler that never returns), the busy-loop hang of spec/recovery.md R10.2. The process stays
// alive and runnable; only its event loop stops turning (test/lab/hung.test.ts).

/** The variable that arms the busy-loop hook. */
export const BUSY_ON_SIGUSR2_ENV = 'FTTCP_TEST_BUSY_ON_SIGUSR2';

/** Installs the hooks the environment asks for; returns their names (for the start-up log). */
export const installTestHooks = (env: NodeJS.ProcessEnv = process.env): string[] => {
  const on: string[] = [];
  if (env[BUSY_ON_SIGUSR2_ENV] === '1') {
    process.on('SIGUSR2', () => {
      // Spins until killed: the heartbeat timer (R10.1) can no longer run.
      for (;;) {
        /* busy */
      }
    });
    on.push('busy-on-sigusr2');
  }
  return on;
};
