import type { Scheduler } from "../frames";

/** Animation frames that run only when a test says so. */
export class ManualFrames {
  private callbacks: Array<() => void> = [];

  readonly schedule: Scheduler = (callback) => {
    this.callbacks.push(callback);
    return () => {
      this.callbacks = this.callbacks.filter((c) => c !== callback);
    };
  };

  get waiting(): number {
    return this.callbacks.length;
  }

  /** Runs the callbacks scheduled so far (one frame). */
  frame(): void {
    const callbacks = this.callbacks;
    this.callbacks = [];
    for (const callback of callbacks) callback();
  }

  /** Runs frames until nothing is scheduled; returns how many ran. */
  drain(limit = 10_000): number {
    let frames = 0;
    while (this.callbacks.length && frames < limit) {
      this.frame();
      frames++;
    }
    return frames;
  }
}
