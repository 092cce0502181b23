/**
 * One view of a reply widget: a `ReplyPane` driven by the widget model's traits and messages.
 *
 * Owns: applying the kernel's delta/snapshot messages in order (see contract.ts and sequence.ts),
 * the hello and stop messages, and its cleanup. Several views of one model may exist; each keeps its
 * own state and listeners, because anywidget gives every view its own model object.
 */
import {
  type CallChange,
  type CompareViewMessage,
  type DeltaMessage,
  FINAL_STATUSES,
  type LingModelState,
  type SnapshotMessage,
  type ViewMessage,
  type WidgetModel,
} from "./contract";
import { isNumber, logError, ReplyPane } from "./pane";
import { Presence } from "./presence";
import type { MarkdownViewOptions } from "./renderer";
import { InOrder } from "./sequence";
import { ToolCard } from "./toolcard";

export { copyText } from "./pane";

export type LingModel = WidgetModel<LingModelState>;

const TRAITS = ["status", "waiting_for", "model_name", "ttft", "tokens_per_s", "elapsed", "usage", "finish_reason", "error", "notes"] as const;

export interface LingViewOptions {
  /** Passed to both Markdown views (tests use it to control frames). */
  markdown?: MarkdownViewOptions;
  now?: () => number;
}

/** Calls `model.on(event, callback)`, guarding the callback; returns what `off` needs. */
export function listen(
  model: WidgetModel<unknown>,
  event: string,
  callback: (...args: unknown[]) => void,
  isDisposed: () => boolean,
): [string, (...args: unknown[]) => void] {
  const guarded = (...args: unknown[]) => {
    if (isDisposed()) return;
    try {
      callback(...args);
    } catch (err) {
      logError(`handling ${event} failed`, err);
    }
  };
  model.on(event, guarded);
  return [event, guarded];
}

/** Removes listeners added with `listen`. Never throws. */
export function unlisten(model: WidgetModel<unknown>, listeners: Array<[string, (...args: unknown[]) => void]>): void {
  for (const [event, callback] of listeners) {
    try {
      model.off(event, callback);
    } catch (err) {
      logError(`could not remove the ${event} listener`, err);
    }
  }
  listeners.length = 0;
}

/** Sends a view message to the kernel; logs instead of throwing. */
export function sendTo(model: WidgetModel<unknown>, message: ViewMessage | CompareViewMessage): void {
  try {
    model.send(message);
  } catch (err) {
    logError(`could not send ${message.type}`, err);
  }
}

export class LingView {
  readonly root: HTMLDivElement;
  private readonly model: LingModel;
  private readonly pane: ReplyPane;
  private readonly order: InOrder<DeltaMessage>;
  private readonly listeners: Array<[string, (...args: unknown[]) => void]> = [];
  private readonly presence: Presence;
  /** The reply's tool calls, by their place among its calls. */
  private readonly cards = new Map<number, ToolCard>();
  private readonly now: () => number;
  private disposed = false;

  constructor(model: LingModel, host: HTMLElement, options: LingViewOptions = {}) {
    this.model = model;
    this.now = options.now ?? (() => performance.now());
    this.order = new InOrder((delta) => {
      this.pane.append(delta.content, delta.reasoning);
      if (Array.isArray(delta.calls)) this.calls(delta.calls);
    });
    this.pane = new ReplyPane(host, this.state(), {
      ...options,
      canStop: model.get("foreground") !== true,
      onStop: () => {
        this.order.clear();
        sendTo(this.model, { type: "stop" });
      },
    });
    this.root = this.pane.root;
    this.presence = new Presence(model, this.root);

    const isDisposed = () => this.disposed;
    this.listeners.push(listen(model, "msg:custom", (msg) => this.onMessage(msg), isDisposed));
    for (const name of TRAITS) {
      this.listeners.push(listen(model, `change:${name}`, () => this.onState(), isDisposed));
    }
    this.presence.hello();
  }

  /** Renders all received text now (tests). */
  flush(): void {
    this.pane.flush();
  }

  /** Removes every listener and timer. Never throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    unlisten(this.model, this.listeners);
    for (const card of this.cards.values()) card.dispose();
    this.pane.dispose();
    this.presence.dispose();
  }

  private state(): LingModelState {
    const get = <K extends keyof LingModelState>(key: K) => this.model.get(key) ?? null;
    return {
      status: get("status") ?? "waiting",
      waiting_for: get("waiting_for"),
      model_name: get("model_name") ?? "",
      ttft: get("ttft"),
      tokens_per_s: get("tokens_per_s"),
      elapsed: get("elapsed"),
      usage: get("usage"),
      finish_reason: get("finish_reason"),
      error: get("error"),
      notes: get("notes") ?? [],
    };
  }

  private onState(): void {
    const state = this.state();
    if (FINAL_STATUSES.has(state.status)) {
      this.order.clear();
      for (const card of this.cards.values()) card.dispose();
    }
    this.pane.setState(state);
  }

  /** Draws tool calls that changed: a new one gets its card after the text so far. */
  private calls(changes: CallChange[]): void {
    for (const change of changes) {
      if (!change || typeof change !== "object" || !isNumber(change.n)) continue;
      let card = this.cards.get(change.n);
      if (card === undefined) {
        card = new ToolCard(document.createElement("div"), this.now, (call, run) => {
          sendTo(this.model, { type: "tool", call, run });
        });
        this.cards.set(change.n, card);
        this.pane.insertPart(card.root);
      }
      card.update(change);
    }
  }

  /** A snapshot of a reply with tool calls: its text parts and cards drawn again, in order. */
  private replaceParts(snapshot: SnapshotMessage): void {
    this.pane.replace("", snapshot.reasoning);
    for (const card of this.cards.values()) card.dispose();
    this.cards.clear();
    for (const part of snapshot.parts ?? []) {
      if (part.kind === "text") this.pane.append(String(part.text ?? ""), "");
      else if (part.kind === "call") this.calls([part]);
    }
  }

  private onMessage(msg: unknown): void {
    if (!msg || typeof msg !== "object" || this.presence.onMessage(msg) || !this.pane.accepting()) return;
    const m = msg as { type?: unknown; seq?: unknown };
    if (!isNumber(m.seq)) return;
    if (m.type === "delta") {
      const delta = msg as DeltaMessage;
      this.pane.live(delta);
      this.order.delta(delta);
    } else if (m.type === "snapshot") {
      const snapshot = msg as SnapshotMessage;
      this.order.snapshot(snapshot.seq, () => {
        if (Array.isArray(snapshot.parts)) this.replaceParts(snapshot);
        else this.pane.replace(snapshot.text, snapshot.reasoning);
      });
    } else {
      return;
    }
    this.pane.refresh();
  }
}
