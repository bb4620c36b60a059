// Which core the data-path thread runs.
import type { SswOut } from './core.ts';
import {
  type CoreSpec,
  type DatapathCore,
  type DatapathEvent,
  passThroughCore,
} from './datapath.protocol.ts';

export const createCore = (
  spec: CoreSpec,
  out: SswOut,
  emit: (e: DatapathEvent) => void,
): DatapathCore => {
  if (spec.kind === 'passthrough') return passThroughCore(spec, out, emit);
  throw new Error('the FT-TCP engine (src/machines/ssw/engine.ts) is not bound in this build');
};
