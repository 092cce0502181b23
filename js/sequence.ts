/**
 * Applies a widget's numbered kernel messages in order: deltas carry `seq` 1, 2, 3, … without gaps;
 * a snapshot holds everything up to its `seq`. A view that rendered mid-stream misses early deltas,
 * so deltas after a gap wait here until the snapshot that answers the view's hello fills it.
 * Shared by the reply view and the comparison view (whose deltas carry every column at once).
 */
export class InOrder<D extends { seq: number }> {
  private last = 0;
  /** Deltas that arrived after a gap, waiting for the snapshot that fills it. */
  private readonly early = new Map<number, D>();

  constructor(private readonly apply: (delta: D) => void) {}

  get lastSeq(): number {
    return this.last;
  }

  /** Applies `delta` if it is the next one (and any held ones after it), holds it after a gap. */
  delta(delta: D): void {
    if (delta.seq <= this.last) return;
    if (delta.seq === this.last + 1) {
      this.last = delta.seq;
      this.apply(delta);
      this.applyEarly();
    } else {
      this.early.set(delta.seq, delta);
    }
  }

  /**
   * A snapshot up to `seq`: `replace` is called to show it unless it is older than what was applied in
   * order (then we are ahead and nothing needs fixing); held deltas after it follow. Returns whether it
   * was taken.
   */
  snapshot(seq: number, replace: () => void): boolean {
    if (seq < this.last) return false;
    this.last = seq;
    replace();
    for (const held of this.early.keys()) if (held <= seq) this.early.delete(held);
    this.applyEarly();
    return true;
  }

  /** Forgets held deltas (the view stopped taking them). */
  clear(): void {
    this.early.clear();
  }

  private applyEarly(): void {
    let next: D | undefined;
    while ((next = this.early.get(this.last + 1))) {
      this.early.delete(next.seq);
      this.last = next.seq;
      this.apply(next);
    }
  }
}
