// The kinds of configuration key the schema declares (deploy/filter-config.schema.json), as the
// generated declarations in generated/config-keys.ts spell them: the member's name, the field
// path messages name, its range and its default. Pure.

export class BoolKey {
  constructor(
    public readonly key: string,
    public readonly field: string,
    public readonly fallback: bool,
  ) {}
}

export class IntegerKey {
  constructor(
    public readonly key: string,
    public readonly field: string,
    public readonly low: i32,
    public readonly high: i32,
    public readonly fallback: i32,
  ) {}
}

export class NumberKey {
  constructor(
    public readonly key: string,
    public readonly field: string,
    public readonly low: f64,
    public readonly high: f64,
    /** What a message says is expected. */
    public readonly expected: string,
    public readonly fallback: f64,
  ) {}
}

/** A string key; what it accepts is decided by the reader's check (config.ts). */
export class TextKey {
  constructor(
    public readonly key: string,
    public readonly field: string,
    public readonly fallback: string,
  ) {}
}

/** An array of label values. */
export class ListKey {
  constructor(
    public readonly key: string,
    public readonly field: string,
    public readonly maxItems: i32,
  ) {}
}

/** A nested object and the keys it allows. */
export class SectionKey {
  constructor(
    public readonly key: string,
    public readonly keys: string[],
  ) {}
}
