/**
 * One view of a reply widget: a `ReplyPane` driven by the widget model's traits and messages.
 *
 * Owns: applying the kernel's delta/snapshot messages in order (see contract.ts and sequence.ts),
 * the hello and stop messages, and its cleanup. Several views of one model may exist; each keeps its
 * own state and listeners, because anywidget gives every view its own model object.
 */
import {
  type CompareViewMessage,
  type DeltaMessage,
  FINAL_EVENT,
  FINAL_STATUSES,
  type FinalDetail,
  type FinalMessage,
  type LingModelState,
  type SnapshotMessage,
  type ViewMessage,
  type WidgetModel,
} from "./contract";
import { el, isNumber, logError, ReplyPane } from "./pane";
import type { MarkdownViewOptions } from "./renderer";
import { InOrder } from "./sequence";

export { copyText } from "./pane";

export type LingModel = WidgetModel<LingModelState>;

const TRAITS = ["status", "model_name", "ttft", "tokens_per_s", "elapsed", "usage", "finish_reason", "error"] as const;

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

/** A random id for one view, sent with its hello and bye (not a secret: crypto is not needed). */
export function newViewId(): string {
  return `${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
}

/**
 * Hands a reply's final copy to the page's ling-notebook extension (js/keeper.ts) through a bubbling
 * FINAL_EVENT from `root`; true when the extension took it (it then replaces the output holding `root`).
 */
export function handOver(root: HTMLElement, bundle: unknown): boolean {
  if (!bundle || typeof bundle !== "object") return false;
  const detail: FinalDetail = { bundle: bundle as Record<string, string> };
  return !root.dispatchEvent(new CustomEvent(FINAL_EVENT, { bubbles: true, cancelable: true, detail }));
}

export const UNSAVED_NOTE = "This view is not saved in the notebook: run the cell again to keep the reply, or copy the text.";

/** The one-line note a view shows when no extension could put the final copy in the notebook. */
export function showUnsaved(root: HTMLElement): void {
  if (root.querySelector(".ling-unsaved")) return;
  el("div", "ling-note ling-unsaved", root).textContent = UNSAVED_NOTE;
}

export class LingView {
  readonly root: HTMLDivElement;
  private readonly model: LingModel;
  private readonly pane: ReplyPane;
  private readonly order: InOrder<DeltaMessage>;
  private readonly listeners: Array<[string, (...args: unknown[]) => void]> = [];
  private readonly id = newViewId();
  // A page that unloads never disposes its views: say bye then, so the kernel can close the widget.
  private readonly onPageHide = () => this.bye();
  private disposed = false;

  constructor(model: LingModel, host: HTMLElement, options: LingViewOptions = {}) {
    this.model = model;
    this.order = new InOrder((delta) => this.pane.append(delta.content, delta.reasoning));
    this.pane = new ReplyPane(host, this.state(), {
      ...options,
      onStop: () => {
        this.order.clear();
        sendTo(this.model, { type: "stop" });
      },
    });
    this.root = this.pane.root;

    const isDisposed = () => this.disposed;
    this.listeners.push(listen(model, "msg:custom", (msg) => this.onMessage(msg), isDisposed));
    for (const name of TRAITS) {
      this.listeners.push(listen(model, `change:${name}`, () => this.onState(), isDisposed));
    }
    sendTo(model, { type: "hello", view: this.id });
    globalThis.addEventListener?.("pagehide", this.onPageHide);
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
    this.pane.dispose();
    globalThis.removeEventListener?.("pagehide", this.onPageHide);
    this.bye();
  }

  private bye(): void {
    try {
      this.model.send({ type: "bye", view: this.id });
    } catch {
      // The widget was closed first (its comm is gone): nobody is left to tell.
    }
  }

  private state(): LingModelState {
    const get = <K extends keyof LingModelState>(key: K) => this.model.get(key) ?? null;
    return {
      status: get("status") ?? "waiting",
      model_name: get("model_name") ?? "",
      ttft: get("ttft"),
      tokens_per_s: get("tokens_per_s"),
      elapsed: get("elapsed"),
      usage: get("usage"),
      finish_reason: get("finish_reason"),
      error: get("error"),
    };
  }

  private onState(): void {
    const state = this.state();
    if (FINAL_STATUSES.has(state.status)) this.order.clear();
    this.pane.setState(state);
  }

  private onMessage(msg: unknown): void {
    if (!msg || typeof msg !== "object") return;
    const m = msg as { type?: unknown; seq?: unknown };
    if (m.type === "ended") {
      sendTo(this.model, { type: "copy" });
      return;
    }
    if (m.type === "final") {
      this.onFinal(msg as FinalMessage);
      return;
    }
    if (!this.pane.accepting()) return;
    if (!isNumber(m.seq)) return;
    if (m.type === "delta") {
      const delta = msg as DeltaMessage;
      this.pane.live(delta);
      this.order.delta(delta);
    } else if (m.type === "snapshot") {
      const snapshot = msg as SnapshotMessage;
      this.order.snapshot(snapshot.seq, () => this.pane.replace(snapshot.text, snapshot.reasoning));
    } else {
      return;
    }
    this.pane.refresh();
  }

  /** The copy for a view update_display missed: the page's extension puts it in the notebook, or we say. */
  private onFinal(msg: FinalMessage): void {
    if (handOver(this.root, msg.bundle) || this.disposed) return;
    showUnsaved(this.root);
  }
}
