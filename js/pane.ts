/**
 * The display of one reply: the status line, the Stop and Copy buttons, the reasoning section, the
 * live Markdown body, the notes and the error banner. The reply view shows one pane; the comparison
 * view shows one per column.
 *
 * Owns: what each part says for a reply's state and live numbers, the pane's own "stopping" state,
 * its ticking elapsed time, and its cleanup. It knows nothing of widget models or messages: its owner
 * gives it the state (`setState`), the live numbers (`live`) and the text (`append`, `replace`).
 */
import {
  ACTIVE_STATUSES,
  FINAL_STATUSES,
  type LingModelState,
  type Status,
  type Usage,
  type WaitingFor,
} from "./contract";
import { button, copyText } from "./copy";
import { MarkdownView, type MarkdownViewOptions } from "./renderer";

export { button, copyText };

/** The states the status line shows: "stopping" (Stop clicked here) and "cut" (done at max tokens) are the view's. */
export type ShownState = Status | "stopping" | "cut";

const STATE_LABELS: Record<ShownState, string> = {
  waiting: "waiting…",
  streaming: "streaming",
  stopping: "stopping…",
  done: "done",
  cut: "cut off at max tokens",
  stopped: "stopped",
  error: "error",
};

/**
 * What the status line says for a state. A waiting reply says what it waits for, once the kernel
 * has said: an earlier turn of the conversation, or the server.
 */
export function stateLabel(state: ShownState, waitingFor?: WaitingFor | null): string {
  if (state === "waiting" && waitingFor === "reply") return "waiting for the reply above";
  if (state === "waiting" && waitingFor === "server") return "waiting for the server";
  return STATE_LABELS[state] ?? String(state);
}

/** The seconds a reply has waited for the server, from the first whole second on: " (3 s)". */
export function waitedText(waited: number | null): string {
  return waited !== null && waited >= 1 ? ` (${Math.floor(waited)} s)` : "";
}

const COPY_FEEDBACK_MS = 1500;
const TICK_MS = 500;

/** The numbers a delta carries about its reply. */
export interface LiveNumbers {
  seq: number;
  elapsed: number;
  ttft: number | null;
  /** The kernel decides when a speed means something (`Reply.tokens_per_s`); null: none is shown. */
  tokens_per_s: number | null;
}

interface LiveStats extends LiveNumbers {
  /** When these stats arrived, to let the elapsed time run on between messages. */
  at: number;
}

export function el<K extends keyof HTMLElementTagNameMap>(
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
export function show(node: HTMLElement, visible: boolean): void {
  if (node.hidden === visible) node.hidden = !visible;
}

/** Sets the text of a status-line part, hiding the part while it is empty. */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
  show(node, text !== "");
}

export function isNumber(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

function seconds(x: number): string {
  return x < 10 ? `${x.toFixed(2)} s` : x < 100 ? `${x.toFixed(1)} s` : `${Math.round(x)} s`;
}

export function logError(what: string, err: unknown): void {
  console.error(`[ling-notebook] ${what}`, err);
}

/**
 * Gives the focus back to the notebook when `button` had it and is about to be disabled or hidden
 * (Stop): the focus would otherwise fall to <body>, where a notebook's command-mode keys do nothing.
 * It goes to the output's cell when that takes focus, else the notebook, else `fallback`.
 */
export function keepFocus(button: HTMLElement, fallback: HTMLElement): void {
  if (document.activeElement !== button) return;
  const target = button.closest<HTMLElement>(".jp-Cell[tabindex], .jp-Notebook[tabindex]")
    ?? fallback;
  if (target === fallback && !fallback.hasAttribute("tabindex")) fallback.tabIndex = -1;
  target.focus({ preventScroll: true });
}

export interface PaneOptions {
  /** Passed to both Markdown views (tests use it to control frames). */
  markdown?: MarkdownViewOptions;
  now?: () => number;
  /** Stop was clicked (the pane already shows "stopping"): tell the kernel. */
  onStop?: () => void;
  /** The Stop button's accessible label. */
  stopLabel?: string;
  /** False: no Stop button (the kernel could not take the click in: foreground mode). */
  canStop?: boolean;
}

export class ReplyPane {
  readonly root: HTMLDivElement;
  private readonly now: () => number;
  private readonly onStopClick: () => void;
  private readonly canStop: boolean;
  private readonly markdownOptions: MarkdownViewOptions | undefined;
  /** Where the text segments and the parts between them (tool cards) go, in order. */
  private readonly partsEl: HTMLDivElement;
  /** The reply's text in segments, one before and one after each inserted part; `body` is the last. */
  private readonly segments: MarkdownView[] = [];
  private body: MarkdownView;
  /** A part was inserted since the last segment began: the next text opens a new segment after it. */
  private afterPart = false;
  private readonly thoughts: MarkdownView;

  private readonly modelEl: HTMLSpanElement;
  private readonly stateEl: HTMLSpanElement;
  private readonly stateLabelEl: HTMLSpanElement;
  private readonly waitedEl: HTMLSpanElement;
  private readonly ttftEl: HTMLSpanElement;
  private readonly rateEl: HTMLSpanElement;
  private readonly elapsedEl: HTMLSpanElement;
  private readonly usageEl: HTMLSpanElement;
  private readonly finishEl: HTMLSpanElement;
  private readonly notesEl: HTMLSpanElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly copyButton: HTMLButtonElement;
  private readonly reasoningEl: HTMLDetailsElement;
  private readonly lengthNote: HTMLDivElement;
  private readonly errorEl: HTMLDivElement;

  private state: LingModelState;
  /** Stop was clicked here and the kernel has not ended the reply yet. */
  private stopping = false;
  /** Some text (a delta or a snapshot) has been shown. */
  private streamed = false;
  private liveStats: LiveStats | null = null;
  /** When this pane learned that the reply waits for the server (its own clock: no kernel message per second). */
  private waitingSince: number | null = null;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private copyTimer: ReturnType<typeof setTimeout> | null = null;
  /** Whether the reasoning section is open by our choice; a user's toggle overrides it. */
  private reasoningAutoOpen = false;
  private reasoningTouched = false;
  private disposed = false;

  constructor(host: HTMLElement, state: LingModelState, options: PaneOptions = {}) {
    this.state = state;
    this.now = options.now ?? (() => performance.now());
    this.onStopClick = options.onStop ?? (() => {});
    this.canStop = options.canStop ?? true;

    this.root = el("div", "ling-widget");
    const header = el("div", "ling-status", this.root);
    this.modelEl = el("span", "ling-model", header);
    this.stateEl = el("span", "ling-state", header);
    // Only the words are a live region: the seconds that tick after them are not read out each time.
    this.stateLabelEl = el("span", "ling-state-label", this.stateEl);
    this.stateLabelEl.setAttribute("role", "status");
    this.waitedEl = el("span", "ling-waited", this.stateEl);
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
    this.notesEl = el("span", "ling-notes", header);
    const actions = el("span", "ling-actions", header);
    this.stopButton = button("ling-stop", "Stop", options.stopLabel ?? "Stop generating this reply", actions);
    this.copyButton = button("ling-copy", "Copy", "Copy the reply as Markdown", actions);

    this.reasoningEl = el("details", "ling-reasoning", this.root);
    const summary = el("summary", "ling-reasoning-summary", this.reasoningEl);
    summary.textContent = "Reasoning";
    const thoughtsEl = el("div", "ling-reasoning-body", this.reasoningEl);
    this.partsEl = el("div", "ling-parts", this.root);
    const bodyEl = el("div", "ling-body", this.partsEl);
    this.lengthNote = el("div", "ling-note ling-length", this.root);
    this.errorEl = el("div", "ling-error", this.root);
    this.errorEl.setAttribute("role", "alert");

    this.markdownOptions = options.markdown;
    this.body = new MarkdownView(bodyEl, options.markdown);
    this.segments.push(this.body);
    this.thoughts = new MarkdownView(thoughtsEl, options.markdown);

    this.stopButton.addEventListener("click", () => {
      keepFocus(this.stopButton, this.root);
      if (this.requestStop()) this.onStopClick();
    });
    this.copyButton.addEventListener("click", () => void this.onCopy());
    this.reasoningEl.addEventListener("toggle", () => {
      if (this.reasoningEl.open !== this.reasoningAutoOpen) this.reasoningTouched = true;
    });

    if (this.isFinal()) this.setFinal();
    host.append(this.root);
    this.refresh();
  }

  /** True while the reply runs and Stop was not clicked here. */
  get active(): boolean {
    return !this.stopping && ACTIVE_STATUSES.has(this.state.status);
  }

  /** The Markdown this pane shows (or is about to show). */
  get text(): string {
    return this.segments.map((segment) => segment.text).join("");
  }

  /** Whether any text has come (without joining the segments: this runs for every message). */
  private hasText(): boolean {
    return this.segments.some((segment) => segment.text !== "");
  }

  /** Puts `node` (a tool card) after the text so far; text that comes later goes after it. */
  insertPart(node: HTMLElement): void {
    this.partsEl.append(node);
    this.afterPart = true;
  }

  /** Removes every inserted part and text segment but the first (a snapshot draws them again). */
  clearParts(): void {
    for (const segment of this.segments.splice(1)) segment.dispose();
    this.body = this.segments[0];
    this.partsEl.replaceChildren(this.partsEl.firstElementChild as HTMLElement);
    this.afterPart = false;
  }

  /**
   * Text is taken while the reply runs and Stop was not clicked here; a pane that opened after the end
   * still takes the snapshot that answers its hello.
   */
  accepting(): boolean {
    return !this.stopping && (!this.isFinal() || !this.streamed);
  }

  setState(state: LingModelState): void {
    this.state = state;
    if (this.isFinal()) this.setFinal();
    this.refresh();
  }

  /** Starts the clock of a wait for the server, and the ticker that shows it. */
  private noteWaiting(): void {
    if (this.waitingSince !== null || this.state.status !== "waiting" || this.state.waiting_for !== "server") return;
    this.waitingSince = this.now();
    if (this.ticker === null && this.accepting()) this.ticker = setInterval(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    this.refreshStats();
    this.refreshState();
  }

  /** The numbers of a delta: the live TTFT, rate and elapsed time until the final ones arrive. */
  live(numbers: LiveNumbers): void {
    if (!isNumber(numbers.elapsed) || (this.liveStats && numbers.seq <= this.liveStats.seq)) return;
    this.liveStats = {
      seq: numbers.seq,
      elapsed: numbers.elapsed,
      ttft: isNumber(numbers.ttft) ? numbers.ttft : null,
      tokens_per_s: isNumber(numbers.tokens_per_s) ? numbers.tokens_per_s : null,
      at: this.now(),
    };
    if (this.ticker === null && this.accepting()) {
      this.ticker = setInterval(() => this.tick(), TICK_MS);
    }
  }

  append(content: string, reasoning: string): void {
    this.streamed = true;
    if (content) this.segment().append(String(content));
    if (reasoning) this.thoughts.append(String(reasoning));
  }

  /** The segment that text goes to: a new one after a part inserted since the last. */
  private segment(): MarkdownView {
    if (this.afterPart) {
      this.afterPart = false;
      this.body = new MarkdownView(el("div", "ling-body", this.partsEl), this.markdownOptions);
      this.segments.push(this.body);
      if (this.isFinal()) this.setFinal();
    }
    return this.body;
  }

  replace(text: string, reasoning: string): void {
    this.streamed = true;
    this.clearParts();
    this.body.setText(String(text ?? ""));
    this.thoughts.setText(String(reasoning ?? ""));
  }

  /** Shows "stopping" and takes no more text; false when the reply is not running or already stopping. */
  requestStop(): boolean {
    if (this.stopping || !ACTIVE_STATUSES.has(this.state.status)) return false;
    this.stopping = true;
    this.stopTicker();
    this.refresh();
    return true;
  }

  /** Renders all received text now (tests). */
  flush(): void {
    for (const segment of this.segments) segment.flush();
    this.thoughts.flush();
  }

  /** Removes every timer and the pane's element. Never throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.stopTicker();
      if (this.copyTimer !== null) clearTimeout(this.copyTimer);
      for (const segment of this.segments) segment.dispose();
      this.thoughts.dispose();
      this.root.remove();
    } catch (err) {
      logError("cleanup failed", err);
    }
  }

  private isFinal(): boolean {
    return FINAL_STATUSES.has(this.state.status);
  }

  private setFinal(): void {
    this.stopTicker();
    const cut = isCut(this.state);
    for (const segment of this.segments) segment.setFinal(true, cut && segment === this.body);
    this.thoughts.setFinal(true, cut);
  }

  private async onCopy(): Promise<void> {
    const ok = await copyText(this.text);
    if (this.disposed) return;
    this.copyButton.textContent = ok ? "Copied" : "Copy failed";
    if (this.copyTimer !== null) clearTimeout(this.copyTimer);
    this.copyTimer = setTimeout(() => {
      this.copyTimer = null;
      this.copyButton.textContent = "Copy";
    }, COPY_FEEDBACK_MS);
  }

  private stopTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
  }

  /** Brings every part except the Markdown in line with the state. */
  refresh(): void {
    const status = this.state.status;
    this.noteWaiting();
    this.refreshState();
    setText(this.modelEl, String(this.state.model_name ?? ""));
    if (this.modelEl.title !== this.modelEl.textContent) this.modelEl.title = this.modelEl.textContent ?? "";

    show(this.stopButton, this.canStop && ACTIVE_STATUSES.has(status));
    if (this.stopButton.disabled !== this.stopping) this.stopButton.disabled = this.stopping;
    const stopLabel = this.stopping ? "Stopping…" : "Stop";
    if (this.stopButton.textContent !== stopLabel) this.stopButton.textContent = stopLabel;
    show(this.copyButton, this.hasText());

    this.refreshStats();
    const usage = this.state.usage;
    setText(this.usageEl, usage ? usageText(usage) : "");
    const finish = this.state.finish_reason;
    setText(this.finishEl, finish ? `finish: ${finish}` : "");
    const notes = this.state.notes;
    setText(this.notesEl, Array.isArray(notes) ? notes.map(String).join(" · ") : "");
    setText(
      this.lengthNote,
      finish === "length" ? "The reply was cut off: it reached the token limit (max tokens)." : "",
    );
    setText(this.errorEl, String(this.state.error ?? ""));
    this.refreshReasoning();
  }

  private refreshState(): void {
    const status = this.state.status;
    let state: ShownState = status;
    if (this.stopping && !this.isFinal()) state = "stopping";
    else if (status === "done" && this.state.finish_reason === "length") state = "cut";
    if (this.root.dataset.status !== state) this.root.dataset.status = state;
    setText(this.stateLabelEl, stateLabel(state, this.state.waiting_for));
    const waiting = state === "waiting" && this.waitingSince !== null;
    setText(this.waitedEl, waiting ? waitedText((this.now() - (this.waitingSince as number)) / 1000) : "");
  }

  private refreshStats(): void {
    const live = this.liveStats;
    const final = this.isFinal();
    const ttft = pick(final, this.state.ttft, live?.ttft);
    let elapsed: number | null = null;
    let rate: number | null = null;
    if (live) {
      elapsed = live.elapsed;
      if (this.ticker !== null) elapsed += (this.now() - live.at) / 1000;
      rate = live.tokens_per_s;
    }
    elapsed = pick(final, this.state.elapsed, elapsed);
    // Once the reply has ended the kernel's final word holds, also when it is "no speed".
    if (final) rate = isNumber(this.state.tokens_per_s) ? this.state.tokens_per_s : null;
    setText(this.ttftEl, ttft !== null ? `TTFT ${seconds(ttft)}` : "");
    setText(this.rateEl, rate !== null ? `${rate.toFixed(1)} tok/s` : "");
    setText(this.elapsedEl, elapsed !== null ? seconds(elapsed) : "");
  }

  private refreshReasoning(): void {
    const has = this.thoughts.text !== "";
    show(this.reasoningEl, has);
    // Open while the model is only thinking, so the thinking shows; closed once the reply starts.
    this.reasoningAutoOpen = has && !this.hasText();
    if (!this.reasoningTouched && this.reasoningEl.open !== this.reasoningAutoOpen) {
      this.reasoningEl.open = this.reasoningAutoOpen;
    }
  }
}

/** A reply that did not end on its own: its text stops mid-way (render.py's `is_cut`, the same rule). */
export function isCut(state: LingModelState): boolean {
  return state.status !== "done" || state.finish_reason === "length";
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
  const cost = typeof usage.cost === "string" ? ` · ${usage.cost}` : "";
  if (!isNumber(prompt) || !isNumber(completion)) return `${n(total)} tokens${cost}`;
  return `${n(total)} tokens (${n(prompt)} in, ${n(completion)} out)${cost}`;
}
