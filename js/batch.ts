/**
 * The progress view of a batch (bundled to ling_notebook/static/batch.js): a bar with done / failed /
 * running / queued, counts, tokens/s, elapsed, ETA, usage, the running items' last lines, Stop all
 * and Retry failed.
 *
 * The kernel sends one `progress` state at most every 100 ms; this view only draws it. Everything
 * from the kernel (model names, labels, the items' text, errors) is untrusted and is only ever set
 * as `textContent`, never as HTML. When the batch ends the kernel replaces this view with a static
 * summary, so the view needs no final state of its own.
 */
import type { WidgetModel } from "./contract";

export type BatchStatus = "running" | "done" | "partial" | "failed" | "stopped";

export interface Counts {
  done: number;
  failed: number;
  running: number;
  queued: number;
  stopped: number;
}

/** Mirrors `Batch.progress()` in ling_notebook/batch.py (the widget's one synced trait). */
export interface BatchProgress {
  status: BatchStatus;
  stopping: boolean;
  model: string;
  total: number;
  counts: Counts;
  tokens: number;
  tokens_per_s: number | null;
  elapsed: number;
  eta: number | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  running: Array<{ label: string; line: string }>;
  last_error: string | null;
}

export interface BatchModelState {
  progress: BatchProgress;
  /** The cell waits for the batch: the kernel takes in no click until it ends, so no Stop all. */
  foreground?: boolean;
}

/** View -> kernel. */
export type BatchMessage = { type: "stop" } | { type: "retry" };

const SEGMENTS = ["done", "failed", "stopped", "running", "queued"] as const;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, parent?: HTMLElement): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  parent?.append(node);
  return node;
}

function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
  node.hidden = text === "";
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min ${rest} s`;
}

/** The counts line: "12 / 100 done · 1 failed · 8 running · 79 queued". */
export function countsText(p: BatchProgress): string {
  const c = p.counts;
  const parts = [`${c.done} / ${p.total} done`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.stopped) parts.push(`${c.stopped} stopped`);
  if (c.running) parts.push(`${c.running} running`);
  if (c.queued) parts.push(`${c.queued} queued`); // the word of `counts`, the summary and to_pandas()
  return parts.join(" · ");
}

/** The numbers line: tokens/s, elapsed, ETA, usage. */
export function statsText(p: BatchProgress): string {
  const parts: string[] = [];
  if (p.tokens_per_s) parts.push(`${Math.round(p.tokens_per_s)} tokens/s`);
  parts.push(`${duration(p.elapsed)} elapsed`);
  if (p.eta !== null && p.status === "running") parts.push(`ETA ${duration(p.eta)}`);
  const u = p.usage;
  if (u.total_tokens) parts.push(`${u.prompt_tokens} prompt + ${u.completion_tokens} completion = ${u.total_tokens} tokens`);
  else if (p.tokens) parts.push(`${p.tokens} tokens so far`);
  return parts.join(" · ");
}

export class BatchView {
  readonly root: HTMLDivElement;
  private readonly model: WidgetModel<BatchModelState>;
  private readonly titleEl: HTMLSpanElement;
  private readonly stateEl: HTMLSpanElement;
  private readonly bar: HTMLDivElement;
  private readonly segments: Record<(typeof SEGMENTS)[number], HTMLDivElement>;
  private readonly countsEl: HTMLDivElement;
  private readonly statsEl: HTMLDivElement;
  private readonly runningEl: HTMLOListElement;
  private readonly errorEl: HTMLDivElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly retryButton: HTMLButtonElement;
  /** Stop all was clicked here and the kernel has not ended the run yet. */
  private stopping = false;
  private readonly onChange = () => this.draw();

  constructor(model: WidgetModel<BatchModelState>, host: HTMLElement) {
    this.model = model;
    this.root = el("div", "ling-batch-live");
    const header = el("div", "ling-batch-header", this.root);
    this.titleEl = el("span", "ling-batch-title", header);
    this.stateEl = el("span", "ling-batch-state", header);
    this.stateEl.setAttribute("role", "status");
    const actions = el("span", "ling-batch-actions", header);
    this.stopButton = el("button", "ling-batch-stop", actions);
    this.stopButton.type = "button";
    this.stopButton.textContent = "Stop all";
    this.retryButton = el("button", "ling-batch-retry", actions);
    this.retryButton.type = "button";
    this.retryButton.textContent = "Retry failed";

    this.bar = el("div", "ling-batch-bar", this.root);
    this.bar.setAttribute("role", "progressbar");
    this.bar.setAttribute("aria-valuemin", "0");
    this.segments = Object.fromEntries(
      SEGMENTS.map((name) => [name, el("div", `ling-batch-seg ling-seg-${name}`, this.bar)]),
    ) as BatchView["segments"];
    this.countsEl = el("div", "ling-batch-counts", this.root);
    this.statsEl = el("div", "ling-batch-stats", this.root);
    this.runningEl = el("ol", "ling-batch-running", this.root);
    this.errorEl = el("div", "ling-batch-error", this.root);

    this.stopButton.addEventListener("click", () => this.send({ type: "stop" }));
    this.retryButton.addEventListener("click", () => this.send({ type: "retry" }));
    for (const button of [this.stopButton, this.retryButton]) {
      // Keep Enter/Space on our buttons away from the notebook's keyboard shortcuts.
      button.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") event.stopPropagation();
      });
    }
    model.on("change:progress", this.onChange);
    host.append(this.root);
    this.draw();
  }

  private send(message: BatchMessage): void {
    if (message.type === "stop") this.stopping = true; // shown at once; the kernel confirms
    this.model.send(message);
    this.draw();
  }

  draw(): void {
    const p = this.model.get("progress");
    if (!p || !p.counts) return;
    const c = p.counts;
    const running = p.status === "running";
    if (!running) this.stopping = false;
    const stopping = running && (this.stopping || p.stopping);
    setText(this.titleEl, `Batch of ${p.total} · ${p.model}`);
    setText(this.stateEl, stopping ? "stopping…" : p.status);
    this.stateEl.dataset.state = stopping ? "stopping" : p.status;
    for (const name of SEGMENTS) {
      const share = p.total ? (100 * c[name]) / p.total : 0;
      this.segments[name].style.width = `${share}%`;
      this.segments[name].title = `${c[name]} ${name}`;
    }
    this.bar.setAttribute("aria-valuemax", String(p.total));
    this.bar.setAttribute("aria-valuenow", String(c.done + c.failed + c.stopped));
    setText(this.countsEl, countsText(p));
    setText(this.statsEl, statsText(p));
    this.drawRunning(p);
    setText(this.errorEl, p.last_error ? `Last error: ${p.last_error}` : "");
    this.stopButton.disabled = !running || stopping;
    this.stopButton.hidden = !running || this.model.get("foreground") === true;
    this.retryButton.hidden = c.failed === 0;
    this.retryButton.disabled = stopping;
  }

  private drawRunning(p: BatchProgress): void {
    const items = p.running ?? [];
    while (this.runningEl.children.length > items.length) this.runningEl.lastElementChild?.remove();
    while (this.runningEl.children.length < items.length) {
      const li = el("li", "ling-batch-item", this.runningEl);
      el("span", "ling-batch-label", li);
      el("span", "ling-batch-line", li);
    }
    items.forEach((item, i) => {
      const li = this.runningEl.children[i] as HTMLElement;
      const [label, line] = Array.from(li.children) as HTMLElement[];
      if (label.textContent !== item.label) label.textContent = item.label;
      const text = item.line || "…";
      if (line.textContent !== text) line.textContent = text;
    });
    this.runningEl.hidden = items.length === 0;
  }

  dispose(): void {
    this.model.off("change:progress", this.onChange);
    this.root.remove();
  }
}

interface RenderProps {
  model: WidgetModel<BatchModelState>;
  el: HTMLElement;
}

function render({ model, el: host }: RenderProps): () => void {
  const view = new BatchView(model, host);
  return () => {
    try {
      view.dispose();
    } catch (err) {
      console.error("[ling-notebook] cleanup failed", err);
    }
  };
}

export default { render };
