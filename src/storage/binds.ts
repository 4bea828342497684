// Numbered parameters for a query whose conditions depend on the filters given: each value is bound, never spliced.

export class Binds {
  readonly values: unknown[] = [];

  /** `clause` with its `?` (one or more, all meaning this value) numbered as this value's parameter. */
  add(clause: string, value: unknown): string {
    this.values.push(value);
    return clause.replaceAll('?', `?${this.values.length}`);
  }
}
