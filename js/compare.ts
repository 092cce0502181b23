/**
 * One view of a comparison widget: a column per model, each a `ReplyPane` (the reply view's live
 * Markdown, status line, Stop and Copy), with a Stop all button above them.
 *
 * Owns: spreading the kernel's coalesced messages (every column's deltas in one message, in order)
 * over the columns, the per-column and Stop all messages, and its cleanup. A column that fails or is
 * stopped keeps its text and takes no more; the others go on.
 */
import {
  ACTIVE_STATUSES,
  type CompareDeltaMessage,
  type CompareModelState,
  type CompareSnapshotMessage,
  type LingModelState,
  type WidgetModel,
} from "./contract";
import { button, el, isNumber, keepFocus, ReplyPane, show } from "./pane";
import { Presence } from "./presence";
import { InOrder } from "./sequence";
import { type LingViewOptions, listen, sendTo, unlisten } from "./view";

export type CompareModel = WidgetModel<CompareModelState>;

const EMPTY: LingModelState = {
  status: "waiting",
  model_name: "",
  ttft: null,
  tokens_per_s: null,
  elapsed: null,
  usage: null,
  finish_reason: null,
  error: null,
};

export class CompareView {
  readonly root: HTMLDivElement;
  private readonly model: CompareModel;
  private readonly panes: ReplyPane[] = [];
  private readonly order: InOrder<CompareDeltaMessage>;
  private readonly stopAllButton: HTMLButtonElement;
  private readonly countEl: HTMLSpanElement;
  private readonly listeners: Array<[string, (...args: unknown[]) => void]> = [];
  private readonly presence: Presence;
  private disposed = false;

  constructor(model: CompareModel, host: HTMLElement, options: LingViewOptions = {}) {
    this.model = model;
    this.order = new InOrder((delta) => this.applyDelta(delta));
    this.root = el("div", "ling-compare");
    this.presence = new Presence(model, this.root);
    const bar = el("div", "ling-compare-bar", this.root);
    this.countEl = el("span", "ling-compare-count", bar);
    this.stopAllButton = button("ling-stop-all", "Stop all", "Stop every reply of this comparison", bar);
    this.stopAllButton.addEventListener("click", () => {
      keepFocus(this.stopAllButton, this.root);
      this.stopAll();
    });
    const grid = el("div", "ling-compare-grid", this.root);

    const columns = this.columns();
    columns.forEach((state, index) => {
      const pane = new ReplyPane(grid, state, {
        ...options,
        stopLabel: `Stop ${state.model_name || `column ${index + 1}`}`,
        canStop: model.get("foreground") !== true,
        onStop: () => sendTo(this.model, { type: "stop", column: index }),
      });
      pane.root.classList.add("ling-column");
      this.panes.push(pane);
    });

    const isDisposed = () => this.disposed;
    this.listeners.push(listen(model, "msg:custom", (msg) => this.onMessage(msg), isDisposed));
    this.listeners.push(listen(model, "change:columns", () => this.onColumns(), isDisposed));
    host.append(this.root);
    this.refreshBar();
    this.presence.hello();
  }

  /** Renders all received text now (tests). */
  flush(): void {
    for (const pane of this.panes) pane.flush();
  }

  /** Removes every listener, timer and element. Never throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    unlisten(this.model, this.listeners);
    for (const pane of this.panes) pane.dispose();
    this.root.remove();
    this.presence.dispose();
  }

  private columns(): LingModelState[] {
    const columns = this.model.get("columns");
    return Array.isArray(columns) ? columns.map((c) => ({ ...EMPTY, ...c })) : [];
  }

  private onColumns(): void {
    this.columns().forEach((state, index) => this.panes[index]?.setState(state));
    this.refreshBar();
  }

  private onMessage(msg: unknown): void {
    if (!msg || typeof msg !== "object" || this.presence.onMessage(msg)) return;
    const m = msg as { type?: unknown; seq?: unknown; columns?: unknown };
    if (!isNumber(m.seq) || !Array.isArray(m.columns)) return;
    if (m.type === "delta") {
      const delta = msg as CompareDeltaMessage;
      for (const column of delta.columns) {
        const pane = this.panes[column.index];
        if (pane?.accepting()) pane.live({ ...column, seq: delta.seq });
      }
      this.order.delta(delta);
    } else if (m.type === "snapshot") {
      const snapshot = msg as CompareSnapshotMessage;
      this.order.snapshot(snapshot.seq, () => {
        snapshot.columns.forEach((column, index) => {
          const pane = this.panes[index];
          if (pane?.accepting()) pane.replace(column.text, column.reasoning);
        });
      });
    } else {
      return;
    }
    for (const pane of this.panes) pane.refresh();
  }

  private applyDelta(delta: CompareDeltaMessage): void {
    for (const column of delta.columns) {
      const pane = this.panes[column.index];
      if (pane?.accepting()) pane.append(column.content, column.reasoning);
    }
  }

  /** Every running column shows "stopping" at once; one message stops them all in the kernel. */
  private stopAll(): void {
    const stopped = this.panes.map((pane) => pane.requestStop());
    if (stopped.some(Boolean)) sendTo(this.model, { type: "stop" });
    this.refreshBar();
  }

  private refreshBar(): void {
    const columns = this.columns();
    const running = columns.filter((c) => ACTIVE_STATUSES.has(c.status)).length;
    const label = running
      ? `${columns.length} models, ${running} streaming`
      : `${columns.length} models, all ended`;
    if (this.countEl.textContent !== label) this.countEl.textContent = label;
    show(this.stopAllButton, running > 0 && this.model.get("foreground") !== true);
    const active = this.panes.some((pane) => pane.active);
    if (this.stopAllButton.disabled === active) this.stopAllButton.disabled = !active;
  }
}
