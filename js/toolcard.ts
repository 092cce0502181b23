/**
 * The card of one tool call in a live reply: its name as soon as it arrives, its arguments growing as
 * they stream (then shown whole, as indented JSON, once complete), "running" with the time it has run,
 * what it printed, and its result or error; Run and Skip while it waits for approval.
 *
 * Owns: the card's elements and what they say. Everything in a card comes from the model or the tool, so
 * it is only ever set as text (`textContent`), never parsed as HTML.
 */
import type { CallChange } from "./contract";
import { button, el, show } from "./pane";

const TICK_MS = 500;

const STATE_LABELS: Record<string, string> = {
  arguments: "receiving arguments…",
  pending: "waiting to run",
  approval: "waiting for your approval",
  running: "running",
  done: "done",
  error: "error",
  skipped: "not run",
  stopped: "stopped",
};

export class ToolCard {
  readonly root: HTMLDetailsElement;
  private readonly nameEl: HTMLSpanElement;
  private readonly stateEl: HTMLSpanElement;
  private readonly argsEl: HTMLPreElement;
  private readonly outputLabel: HTMLDivElement;
  private readonly outputEl: HTMLPreElement;
  private readonly resultLabel: HTMLDivElement;
  private readonly resultEl: HTMLPreElement;
  private readonly decide: HTMLSpanElement;
  private id = "";
  private state = "arguments";
  private seconds: number | null = null;
  /** When `seconds` arrived: while the tool runs, the card's own clock adds the time since. */
  private secondsAt = 0;
  private ticker: ReturnType<typeof setInterval> | null = null;

  constructor(
    parent: HTMLElement,
    private readonly now: () => number,
    onDecide: (call: string, run: boolean) => void,
  ) {
    this.root = el("details", "ling-tool", parent);
    this.root.open = true;
    const summary = el("summary", "ling-tool-head", this.root);
    const nameEl = el("span", "ling-tool-name", summary);
    nameEl.textContent = "Tool";
    this.stateEl = el("span", "ling-tool-state", summary);
    this.decide = el("span", "ling-tool-decide", summary);
    const run = button("ling-tool-run", "Run", "Run this tool call", this.decide);
    const skip = button("ling-tool-skip", "Skip", "Skip this tool call (the model is told you declined)", this.decide);
    for (const [node, yes] of [[run, true], [skip, false]] as const) {
      node.addEventListener("click", (event) => {
        event.preventDefault(); // not a toggle of the card
        show(this.decide, false);
        onDecide(this.id, yes);
      });
    }
    el("div", "ling-tool-label", this.root).textContent = "Arguments";
    this.argsEl = el("pre", "ling-tool-args", this.root);
    this.outputLabel = el("div", "ling-tool-label", this.root);
    this.outputLabel.textContent = "Printed";
    this.outputEl = el("pre", "ling-tool-output", this.root);
    this.resultLabel = el("div", "ling-tool-label", this.root);
    this.resultEl = el("pre", "ling-tool-result", this.root);
    this.nameEl = nameEl;
    this.update({ n: 0 });
  }

  update(change: CallChange): void {
    if (typeof change.id === "string") this.id = change.id;
    if (typeof change.name === "string") this.nameEl.textContent = change.name;
    if (typeof change.arguments === "string" && change.arguments) this.argsEl.textContent += change.arguments;
    if (typeof change.shown === "string") this.argsEl.textContent = change.shown;
    if (typeof change.state === "string" && change.state !== this.state) {
      this.state = change.state;
    }
    if (typeof change.seconds === "number") {
      this.seconds = change.seconds;
      this.secondsAt = this.now();
    }
    if (typeof change.output === "string") this.outputEl.textContent = change.output;
    if (typeof change.error === "string") {
      this.resultLabel.textContent = "Error";
      this.resultEl.textContent = change.error;
    } else if (typeof change.result === "string") {
      this.resultLabel.textContent = "Result";
      this.resultEl.textContent = change.result;
    }
    show(this.outputLabel, this.outputEl.textContent !== "");
    show(this.outputEl, this.outputEl.textContent !== "");
    show(this.resultLabel, this.resultEl.textContent !== "");
    show(this.resultEl, this.resultEl.textContent !== "");
    show(this.decide, this.state === "approval");
    this.root.dataset.state = this.state;
    if (this.state === "running" && this.ticker === null) this.ticker = setInterval(() => this.tick(), TICK_MS);
    if (this.state !== "running") this.stopTicker();
    this.tick();
  }

  /** The reply ended (or the view went away): nothing of this card changes any more. */
  dispose(): void {
    this.stopTicker();
  }

  private stopTicker(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
  }

  /** The state line, with the seconds it has run (ticking while it runs). */
  tick(): void {
    let seconds = this.seconds;
    if (this.state === "running" && seconds !== null) seconds += (this.now() - this.secondsAt) / 1000;
    const label = STATE_LABELS[this.state] ?? this.state;
    const text = seconds !== null && this.state !== "arguments" ? `${label} · ${seconds.toFixed(1)} s` : label;
    if (this.stateEl.textContent !== text) this.stateEl.textContent = text;
  }
}
