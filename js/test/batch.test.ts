import { describe, expect, it } from "vitest";
import { type BatchModelState, type BatchProgress, BatchView, countsText, duration, statsText } from "../batch";
import type { WidgetModel } from "../contract";

type Callback = (...args: unknown[]) => void;

function progress(patch: Partial<BatchProgress> = {}): BatchProgress {
  return {
    status: "running",
    stopping: false,
    model: "test/echo",
    total: 10,
    counts: { done: 3, failed: 1, running: 2, queued: 4, stopped: 0 },
    tokens: 120,
    tokens_per_s: 60.4,
    elapsed: 2,
    eta: 4.5,
    usage: { prompt_tokens: 20, completion_tokens: 90, total_tokens: 110 },
    running: [
      { label: "4", line: "partial answer" },
      { label: "5", line: "" },
    ],
    last_error: null,
    ...patch,
  };
}

/** anywidget's model for the batch view: one trait, change events, messages to the kernel. */
class FakeBatchModel implements WidgetModel<BatchModelState> {
  readonly sent: unknown[] = [];
  private readonly handlers = new Map<string, Set<Callback>>();
  constructor(public state: BatchModelState) {}
  get<K extends keyof BatchModelState>(key: K): BatchModelState[K] {
    return this.state[key];
  }
  on(event: string, callback: Callback): void {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)?.add(callback);
  }
  off(event?: string | null, callback?: Callback | null): void {
    if (event && callback) this.handlers.get(event)?.delete(callback);
  }
  send(content: unknown): void {
    this.sent.push(content);
  }
  set(p: BatchProgress): void {
    this.state = { progress: p };
    for (const callback of this.handlers.get("change:progress") ?? []) callback();
  }
  listeners(): number {
    let n = 0;
    for (const set of this.handlers.values()) n += set.size;
    return n;
  }
}

function mount(p = progress()) {
  const model = new FakeBatchModel({ progress: p });
  const host = document.createElement("div");
  const view = new BatchView(model, host);
  const q = (selector: string) => host.querySelector(selector) as HTMLElement;
  return { model, host, view, q };
}

describe("batch progress view", () => {
  it("draws the bar, counts, numbers and the running items' last lines", () => {
    const { q, host } = mount();
    expect(q(".ling-seg-done").style.width).toBe("30%");
    expect(q(".ling-seg-failed").style.width).toBe("10%");
    expect(q(".ling-seg-running").style.width).toBe("20%");
    expect(q(".ling-seg-queued").style.width).toBe("40%");
    expect(q(".ling-batch-counts").textContent).toBe("3 / 10 done · 1 failed · 2 running · 4 queued");
    expect(q(".ling-batch-stats").textContent).toBe(
      "60 tokens/s · 2.0 s elapsed · ETA 4.5 s · 20 prompt + 90 completion = 110 tokens",
    );
    const lines = Array.from(host.querySelectorAll(".ling-batch-item")).map((li) => li.textContent);
    expect(lines).toEqual(["4partial answer", "5…"]);
    expect(q(".ling-batch-title").textContent).toBe("Batch of 10 · test/echo");
  });

  it("advances as states arrive, reusing its rows", () => {
    const { model, q, host } = mount();
    const firstRow = host.querySelector(".ling-batch-item");
    model.set(progress({ counts: { done: 8, failed: 1, running: 1, queued: 0, stopped: 0 }, running: [{ label: "9", line: "x" }] }));
    expect(q(".ling-seg-done").style.width).toBe("80%");
    expect(host.querySelectorAll(".ling-batch-item")).toHaveLength(1);
    expect(host.querySelector(".ling-batch-item")).toBe(firstRow);
    expect(q(".ling-batch-counts").textContent).toBe("8 / 10 done · 1 failed · 1 running");
  });

  it("shows model text and errors as text, never as HTML", () => {
    const hostile = '<img src=x onerror="window.pwned=1">';
    const { host, q } = mount(progress({ running: [{ label: hostile, line: hostile }], last_error: hostile, model: hostile }));
    expect(host.querySelector("img")).toBeNull();
    expect(q(".ling-batch-line").textContent).toBe(hostile);
    expect(q(".ling-batch-error").textContent).toBe(`Last error: ${hostile}`);
  });

  it("Stop all sends stop once and shows stopping at once", () => {
    const { model, q } = mount();
    const stop = q(".ling-batch-stop") as HTMLButtonElement;
    stop.click();
    expect(model.sent).toEqual([{ type: "stop" }]);
    expect(q(".ling-batch-state").textContent).toBe("stopping…");
    expect(stop.disabled).toBe(true);
    model.set(progress({ status: "stopped", counts: { done: 3, failed: 1, running: 0, queued: 4, stopped: 2 }, running: [] }));
    expect(stop.hidden).toBe(true);
    expect(q(".ling-batch-counts").textContent).toBe("3 / 10 done · 1 failed · 2 stopped · 4 queued");
  });

  it("offers no Stop all in foreground mode", () => {
    const model = new FakeBatchModel({ progress: progress(), foreground: true });
    const host = document.createElement("div");
    new BatchView(model, host);
    expect((host.querySelector(".ling-batch-stop") as HTMLElement).hidden).toBe(true);
    expect(host.querySelector(".ling-batch-counts")?.textContent).toBe("3 / 10 done · 1 failed · 2 running · 4 queued");
  });

  it("Retry failed shows only when something failed and sends retry", () => {
    const { model, q } = mount(progress({ counts: { done: 3, failed: 0, running: 2, queued: 5, stopped: 0 } }));
    const retry = q(".ling-batch-retry") as HTMLButtonElement;
    expect(retry.hidden).toBe(true);
    model.set(progress());
    expect(retry.hidden).toBe(false);
    retry.click();
    expect(model.sent).toEqual([{ type: "retry" }]);
  });

  it("cleans up its listener and element", () => {
    const { model, view, host } = mount();
    view.dispose();
    expect(model.listeners()).toBe(0);
    expect(host.children).toHaveLength(0);
  });
});

describe("batch text helpers", () => {
  it("formats durations", () => {
    expect(duration(3.21)).toBe("3.2 s");
    expect(duration(125)).toBe("2 min 05 s");
    expect(duration(7260)).toBe("2 h 01 min");
  });

  it("leaves out what is not known yet", () => {
    const p = progress({ tokens_per_s: null, eta: null, tokens: 0, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } });
    expect(statsText(p)).toBe("2.0 s elapsed");
    expect(countsText(progress({ counts: { done: 0, failed: 0, running: 0, queued: 10, stopped: 0 } }))).toBe("0 / 10 done · 10 queued");
  });
});
