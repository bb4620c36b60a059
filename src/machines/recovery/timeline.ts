// Timeline of a recovery, as the runtime prints it (spec/recovery.md "Timeline"). The
// machines emit these through the `timeline` action; the runtime stamps them with its clock.

export type TimelineEvent =
  | { readonly kind: 'crash'; readonly what: 'app' | 'host' }
  | { readonly kind: 'detected' }
  | { readonly kind: 'fenced'; readonly epoch: number }
  | { readonly kind: 'takeover' }
  | { readonly kind: 'replay'; readonly bytes: number; readonly determinants: number }
  | { readonly kind: 'live'; readonly epoch: number }
  | { readonly kind: 'stalled' }
  | { readonly kind: 'unprotected' }
  | { readonly kind: 'fencedOut' }
  | { readonly kind: 'restart'; readonly attempt: number }
  | { readonly kind: 'failed'; readonly reason: string };

export type TimelineKind = TimelineEvent['kind'];

/** One line a person can read: `fenced epoch=3`, `replay 1500 bytes / 4 determinants`. */
export const formatTimeline = (e: TimelineEvent): string => {
  switch (e.kind) {
    case 'crash':
      return `crash ${e.what}`;
    case 'detected':
      return 'detected';
    case 'fenced':
      return `fenced epoch=${e.epoch}`;
    case 'takeover':
      return 'takeover';
    case 'replay':
      return `replay ${e.bytes} bytes / ${e.determinants} determinants`;
    case 'live':
      return `live epoch=${e.epoch}`;
    case 'stalled':
      return 'stalled';
    case 'unprotected':
      return 'unprotected';
    case 'fencedOut':
      return 'fenced-out';
    case 'restart':
      return `restart attempt=${e.attempt}`;
    case 'failed':
      return `failed ${e.reason}`;
  }
};
