// Invariant assertions (spec/protocol.md "Invariants", spec/ssw.md), TigerBeetle's way: cheap,
// always on, and a failure is a crash that names the invariant, never a repair. Each one sits
// where its invariant holds by construction whatever the input (the engine never throws on
// input bytes: parsers refuse, rules drop), so a failure is a bug in this code, stopped at its
// cause instead of showing up later as a client's stall or a bad byte.

export type InvariantDetail = Readonly<Record<string, number | string | boolean | undefined>>;

/** A failed assertion: `id` is the invariant's or rule's ID (spec/protocol.md, spec/ssw.md). */
export class InvariantViolation extends Error {
  readonly id: string;
  readonly detail: InvariantDetail | undefined;
  constructor(id: string, detail: InvariantDetail | undefined) {
    super(
      `ssw invariant ${id} violated${detail === undefined ? '' : ` ${JSON.stringify(detail)}`}`,
    );
    this.name = 'InvariantViolation';
    this.id = id;
    this.detail = detail;
  }
}

/** Throws `InvariantViolation(id)` unless `cond`; `detail` is computed only then. */
export function assert(cond: boolean, id: string, detail?: () => InvariantDetail): asserts cond {
  if (!cond) throw new InvariantViolation(id, detail?.());
}
