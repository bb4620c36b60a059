// The control channel between the recovery daemon (the client, ../recovery/control.ts) and the
// backup SSW daemon (the server, `--control PATH`): NDJSON over a unix stream socket
// (../recovery/README.md section 2). Its limits and timings, for both ends, written once.

export const CONTROL_CHANNEL = {
  /** the longest unterminated line either end holds (characters); a longer one drops the channel */
  maxLine: 64 * 1024,
  /** bound on one request (`fttcp-recovery --control-timeout-ms`) */
  requestTimeoutMs: 5000,
  /** the client reconnects after this, doubling each failure up to maxReconnectMs */
  initialReconnectMs: 50,
  maxReconnectMs: 1000,
} as const;

/** CONTROL_CHANNEL.maxLine, under the name both ends use. */
export const MAX_CONTROL_LINE = CONTROL_CHANNEL.maxLine;
