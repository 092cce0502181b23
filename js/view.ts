/**
 * One view of a reply widget: the status line, the Stop and Copy buttons, the reasoning section,
 * the live Markdown body and the error banner.
 *
 * Owns: applying the kernel's delta/snapshot messages in order (see contract.ts), the view's own
 * "stopping" state, and its cleanup. Several views of one model may exist; each keeps its own state
 * and listeners, because anywidget gives every view its own model object.
 */
import {
  ACTIVE_STATUSES,
  type DeltaMessage,
  FINAL_STATUSES,
  type LingModelState,
  type SnapshotMessage,
  type Status,
  type Usage,
  type ViewMessage,
  type WidgetModel,
} from "./contract";
import { MarkdownView, type MarkdownViewOptions } from "./renderer";

export type LingModel = WidgetModel<LingModelState>;

/** What the status line says for each state; "stopping" exists only in the view. */
const STATE_LABELS: Record<Status | "stopping", string> = {
  waiting: "waiting…",
  streaming: "streaming",
  stopping: "stopping…",
  done: "done",
  stopped: "stopped",
  error: "error",
};

const COPY_FEEDBACK_MS = 1500;
const TICK_MS = 500;

interface LiveStats {
  seq: number;
  elapsed: number;
  ttft: number | null;
  chunks: number;
  /** When these stats arrived, to let the elapsed time run on between messages. */
  at: number;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  parent?: HTMLElement,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  parent?.append(node);
  return node;
}

/** Shows or hides `node`, touching the DOM only on a change (this runs for every message). */
function show(node: HTMLElement, visible: boolean): void {
  if (node.hidden === visible) node.hidden = !visible;
}

/** Sets the text of a status-line part, hiding the part while it is empty. */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
  show(node, text !== "");
}

function isNumber(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

function seconds(x: number): string {
  return x < 10 ? `${x.toFixed(2)} s` : x < 100 ? `${x.toFixed(1)} s` : `${Math.round(x)} s`;
}

function logError(what: string, err: unknown): void {
  console.error(`[ling-notebook] ${what}`, err);
}

/** Copies `text` to the clipboard; falls back to a hidden textarea where the API is missing or refused. */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Refused (no permission, insecure context): try the old way.
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  const focused = document.activeElement as HTMLElement | null;
  document.body.append(area);
  try {
    area.focus();
    area.select();
    return document.execCommand("copy");
  } catch {
    return false;
  } finally {
    area.remove();
    focused?.focus();
  }
}

export interface LingViewOptions {
  /** Passed to both Markdown views (tests use it to control frames). */
  markdown?: MarkdownViewOptions;
  now?: () => number;
}

export class LingView {
  readonly root: HTMLDivElement;
  private readonly model: LingModel;
  private readonly now: () => number;
  private readonly body: MarkdownView;
  private readonly thoughts: MarkdownView;

  private readonly modelEl: HTMLSpanElement;
  private readonly stateEl: HTMLSpanElement;
  private readonly ttftEl: HTMLSpanElement;
  private readonly rateEl: HTMLSpanElement;
  private readonly elapsedEl: HTMLSpanElement;
  private readonly usageEl: HTMLSpanElement;
  private readonly finishEl: HTMLSpanElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly copyButton: HTMLButtonElement;
  private readonly reasoningEl: HTMLDetailsElement;
  private readonly lengthNote: HTMLDivElement;
  private readonly errorEl: HTMLDivElement;

  private status: Status;
  /** Stop was clicked here and the kernel has not ended the reply yet. */
  private stopping = false;
  /** A delta or snapshot has been applied. */
  private streamed = false;
  private lastSeq = 0;
  /** Deltas that arrived after a gap, waiting for the snapshot that fills it. */
  private readonly early = new Map<number, DeltaMessage>();
  private live: LiveStats | null = null;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private copyTimer: ReturnType<typeof setTimeout> | null = null;
  /** Whether the reasoning section is open by our choice; a user's toggle overrides it. */
  private reasoningAutoOpen = false;
  private reasoningTouched = false;
  private readonly listeners: Array<[string, (...args: unknown[]) => void]> = [];
  private disposed = false;

  constructor(model: LingModel, host: HTMLElement, options: LingViewOptions = {}) {
    this.model = model;
    this.now = options.now ?? (() => performance.now());
    this.status = this.trait("status") ?? "waiting";

    this.root = el("div", "ling-widget");
    const header = el("div", "ling-status", this.root);
    this.modelEl = el("span", "ling-model", header);
    this.stateEl = el("span", "ling-state", header);
    this.stateEl.setAttribute("role", "status");
    const stats = el("span", "ling-stats", header);
    this.ttftEl = el("span", "ling-ttft", stats);
    this.ttftEl.title = "Time to first token";
    this.rateEl = el("span", "ling-rate", stats);
    this.rateEl.title = "Tokens per second";
    this.elapsedEl = el("span", "ling-elapsed", stats);
    this.elapsedEl.title = "Elapsed time";
    this.usageEl = el("span", "ling-usage", header);
    this.usageEl.title = "Tokens used, as the server reports them: prompt (in) and completion (out)";
    this.finishEl = el("span", "ling-finish", header);
    this.finishEl.title = "Why the reply ended";
    const actions = el("span", "ling-actions", header);
    this.stopButton = el("button", "ling-stop", actions);
    this.stopButton.type = "button";
    this.stopButton.textContent = "Stop";
    this.stopButton.setAttribute("aria-label", "Stop generating this reply");
    this.copyButton = el("button", "ling-copy", actions);
    this.copyButton.type = "button";
    this.copyButton.textContent = "Copy";
    this.copyButton.setAttribute("aria-label", "Copy the reply as Markdown");

    this.reasoningEl = el("details", "ling-reasoning", this.root);
    const summary = el("summary", "ling-reasoning-summary", this.reasoningEl);
    summary.textContent = "Reasoning";
    const thoughtsEl = el("div", "ling-reasoning-body", this.reasoningEl);
    const bodyEl = el("div", "ling-body", this.root);
    this.lengthNote = el("div", "ling-note ling-length", this.root);
    this.errorEl = el("div", "ling-error", this.root);
    this.errorEl.setAttribute("role", "alert");

    this.body = new MarkdownView(bodyEl, options.markdown);
    this.thoughts = new MarkdownView(thoughtsEl, options.markdown);

    this.stopButton.addEventListener("click", () => this.onStop());
    this.copyButton.addEventListener("click", () => void this.onCopy());
    for (const button of [this.stopButton, this.copyButton]) {
      // Keep Enter/Space on our buttons away from the notebook's keyboard shortcuts.
      button.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") event.stopPropagation();
      });
    }
    this.reasoningEl.addEventListener("toggle", () => {
      if (this.reasoningEl.open !== this.reasoningAutoOpen) this.reasoningTouched = true;
    });

    this.listen("msg:custom", (msg) => this.onMessage(msg));
    this.listen("change:status", () => this.onStatus());
    for (const name of ["model_name", "ttft", "tokens_per_s", "elapsed", "usage", "finish_reason", "error"]) {
      this.listen(`change:${name}`, () => this.refresh());
    }

    if (this.isFinal()) this.setFinal();
    host.append(this.root);
    this.refresh();
    this.send({ type: "hello" });
  }

  /** Renders all received text now (tests). */
  flush(): void {
    this.body.flush();
    this.thoughts.flush();
  }

  /** Removes every listener and timer. Never throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const [event, callback] of this.listeners) {
      try {
        this.model.off(event, callback);
      } catch (err) {
        logError(`could not remove the ${event} listener`, err);
      }
    }
    this.listeners.length = 0;
    try {
      this.stopTicker();
      if (this.copyTimer !== null) clearTimeout(this.copyTimer);
      this.body.dispose();
      this.thoughts.dispose();
      this.root.remove();
    } catch (err) {
      logError("cleanup failed", err);
    }
  }

  private trait<K extends keyof LingModelState>(key: K): LingModelState[K] | undefined {
    return this.model.get(key) ?? undefined;
  }

  private listen(event: string, callback: (...args: unknown[]) => void): void {
    const guarded = (...args: unknown[]) => {
      if (this.disposed) return;
      try {
        callback(...args);
      } catch (err) {
        logError(`handling ${event} failed`, err);
      }
    };
    this.model.on(event, guarded);
    this.listeners.push([event, guarded]);
  }

  private send(message: ViewMessage): void {
    try {
      this.model.send(message);
    } catch (err) {
      logError(`could not send ${message.type}`, err);
    }
  }

  private isFinal(): boolean {
    return FINAL_STATUSES.has(this.status);
  }

  /**
   * Deltas and snapshots are applied while the reply runs and Stop was not clicked here; a view that
   * opened after the end still takes the snapshot that answers its hello.
   */
  private accepting(): boolean {
    return !this.stopping && (!this.isFinal() || !this.streamed);
  }

  private onMessage(msg: unknown): void {
    if (!msg || typeof msg !== "object" || !this.accepting()) return;
    const m = msg as { type?: unknown; seq?: unknown };
    if (!isNumber(m.seq)) return;
    if (m.type === "delta") this.onDelta(msg as DeltaMessage);
    else if (m.type === "snapshot") this.onSnapshot(msg as SnapshotMessage);
  }

  private onDelta(delta: DeltaMessage): void {
    if (isNumber(delta.elapsed) && (!this.live || delta.seq > this.live.seq)) {
      this.live = {
        seq: delta.seq,
        elapsed: delta.elapsed,
        ttft: isNumber(delta.ttft) ? delta.ttft : null,
        chunks: isNumber(delta.chunks) ? delta.chunks : 0,
        at: this.now(),
      };
      this.startTicker();
    }
    if (delta.seq <= this.lastSeq) return;
    if (delta.seq === this.lastSeq + 1) {
      this.applyDelta(delta);
      this.applyEarly();
    } else {
      // A gap: this view missed deltas (it rendered mid-stream). The snapshot that answers our
      // hello fills it; keep this delta until then.
      this.early.set(delta.seq, delta);
    }
    this.refresh();
  }

  private onSnapshot(snapshot: SnapshotMessage): void {
    // Older than what we have applied in order: we are ahead, nothing to fix.
    if (snapshot.seq < this.lastSeq) return;
    this.streamed = true;
    this.lastSeq = snapshot.seq;
    this.body.setText(String(snapshot.text ?? ""));
    this.thoughts.setText(String(snapshot.reasoning ?? ""));
    for (const seq of this.early.keys()) if (seq <= snapshot.seq) this.early.delete(seq);
    this.applyEarly();
    this.refresh();
  }

  private applyDelta(delta: DeltaMessage): void {
    this.streamed = true;
    this.lastSeq = delta.seq;
    if (delta.content) this.body.append(String(delta.content));
    if (delta.reasoning) this.thoughts.append(String(delta.reasoning));
  }

  private applyEarly(): void {
    let next: DeltaMessage | undefined;
    while ((next = this.early.get(this.lastSeq + 1))) {
      this.early.delete(next.seq);
      this.applyDelta(next);
    }
  }

  private onStatus(): void {
    this.status = this.trait("status") ?? this.status;
    if (this.isFinal()) this.setFinal();
    this.refresh();
  }

  private setFinal(): void {
    this.early.clear();
    this.stopTicker();
    this.body.setFinal(true);
    this.thoughts.setFinal(true);
  }

  private onStop(): void {
    if (this.stopping || !ACTIVE_STATUSES.has(this.status)) return;
    this.stopping = true;
    this.early.clear();
    this.stopTicker();
    this.refresh();
    this.send({ type: "stop" });
  }

  private async onCopy(): Promise<void> {
    const ok = await copyText(this.body.text);
    if (this.disposed) return;
    this.copyButton.textContent = ok ? "Copied" : "Copy failed";
    if (this.copyTimer !== null) clearTimeout(this.copyTimer);
    this.copyTimer = setTimeout(() => {
      this.copyTimer = null;
      this.copyButton.textContent = "Copy";
    }, COPY_FEEDBACK_MS);
  }

  private startTicker(): void {
    if (this.ticker === null && this.accepting()) {
      this.ticker = setInterval(() => this.refreshStats(), TICK_MS);
    }
  }

  private stopTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
  }

  /** Brings every part of the view except the Markdown in line with the state. */
  private refresh(): void {
    const state = this.stopping && !this.isFinal() ? "stopping" : this.status;
    if (this.root.dataset.status !== state) this.root.dataset.status = state;
    setText(this.stateEl, STATE_LABELS[state] ?? String(state));
    setText(this.modelEl, String(this.trait("model_name") ?? ""));

    const active = ACTIVE_STATUSES.has(this.status);
    show(this.stopButton, active);
    if (this.stopButton.disabled !== this.stopping) this.stopButton.disabled = this.stopping;
    const stopLabel = this.stopping ? "Stopping…" : "Stop";
    if (this.stopButton.textContent !== stopLabel) this.stopButton.textContent = stopLabel;
    show(this.copyButton, this.body.text !== "");

    this.refreshStats();
    const usage = this.trait("usage");
    setText(this.usageEl, usage ? usageText(usage) : "");
    const finish = this.trait("finish_reason");
    setText(this.finishEl, finish ? `finish: ${finish}` : "");
    setText(
      this.lengthNote,
      finish === "length" ? "The reply was cut off: it reached the token limit (max tokens)." : "",
    );
    setText(this.errorEl, String(this.trait("error") ?? ""));
    this.refreshReasoning();
  }

  private refreshStats(): void {
    const live = this.live;
    const final = this.isFinal();
    const ttft = pick(final, this.trait("ttft"), live?.ttft);
    let elapsed: number | null = null;
    let rate: number | null = null;
    if (live) {
      elapsed = live.elapsed;
      if (this.ticker !== null) elapsed += (this.now() - live.at) / 1000;
      const generating = elapsed - (live.ttft ?? elapsed);
      if (live.chunks > 0 && generating > 0.05) rate = live.chunks / generating;
    }
    elapsed = pick(final, this.trait("elapsed"), elapsed);
    rate = pick(final, this.trait("tokens_per_s"), rate);
    setText(this.ttftEl, ttft !== null ? `TTFT ${seconds(ttft)}` : "");
    setText(this.rateEl, rate !== null ? `${rate.toFixed(1)} tok/s` : "");
    setText(this.elapsedEl, elapsed !== null ? seconds(elapsed) : "");
  }

  private refreshReasoning(): void {
    const has = this.thoughts.text !== "";
    show(this.reasoningEl, has);
    // Open while the model is only thinking, so the thinking shows; closed once the reply starts.
    this.reasoningAutoOpen = has && this.body.text === "";
    if (!this.reasoningTouched && this.reasoningEl.open !== this.reasoningAutoOpen) {
      this.reasoningEl.open = this.reasoningAutoOpen;
    }
  }
}

/** The trait once the reply has ended (when the kernel set it), else the live value. */
function pick(final: boolean, trait: number | null | undefined, live: number | null | undefined): number | null {
  if (final && isNumber(trait)) return trait;
  if (isNumber(live)) return live;
  return isNumber(trait) ? trait : null;
}

function usageText(usage: Usage): string {
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = usage;
  if (!isNumber(total)) return "";
  const n = (x: number) => x.toLocaleString("en-US");
  if (!isNumber(prompt) || !isNumber(completion)) return `${n(total)} tokens`;
  return `${n(total)} tokens (${n(prompt)} in, ${n(completion)} out)`;
}
