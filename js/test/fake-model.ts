import type { LingModelState, WidgetModel } from "../contract";

type Callback = (...args: unknown[]) => void;

export const INITIAL_STATE: LingModelState = {
  status: "waiting",
  model_name: "Ling-test",
  ttft: null,
  tokens_per_s: null,
  elapsed: null,
  usage: null,
  finish_reason: null,
  error: null,
};

/** Stands in for anywidget's model: traits, change events, custom messages both ways. */
export class FakeModel<T extends object = LingModelState> implements WidgetModel<T> {
  state: T;
  readonly sent: unknown[] = [];
  private readonly handlers = new Map<string, Set<Callback>>();

  /** A reply widget's model by default; `initial` gives another widget's traits. */
  constructor(state: Partial<NoInfer<T>> = {}, initial: T = INITIAL_STATE as T) {
    this.state = { ...initial, ...state };
  }

  get<K extends keyof T>(key: K): T[K] {
    return this.state[key];
  }

  on(event: string, callback: Callback): void {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)?.add(callback);
  }

  off(event?: string | null, callback?: Callback | null): void {
    if (!event) this.handlers.clear();
    else if (!callback) this.handlers.delete(event);
    else this.handlers.get(event)?.delete(callback);
  }

  send(content: unknown): void {
    this.sent.push(content);
  }

  /** Like a kernel state update: every trait changes first, then the change events fire. */
  set(patch: Partial<T>): void {
    Object.assign(this.state, patch);
    for (const key of Object.keys(patch)) this.fire(`change:${key}`, this, patch[key as keyof T]);
  }

  /** A custom message from the kernel. */
  message(content: unknown): void {
    this.fire("msg:custom", content, []);
  }

  listenerCount(): number {
    let n = 0;
    for (const set of this.handlers.values()) n += set.size;
    return n;
  }

  private fire(event: string, ...args: unknown[]): void {
    for (const callback of [...(this.handlers.get(event) ?? [])]) callback(...args);
  }
}
