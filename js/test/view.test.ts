import { afterEach, describe, expect, it, vi } from "vitest";
import type { DeltaMessage, LingModelState } from "../contract";
import { LingView } from "../view";
import app from "../app";
import { FakeModel } from "./fake-model";
import { ManualFrames } from "./frames";

/** The hello a reply view sends: with its own random id. */
const HELLO = { type: "hello", view: expect.any(String) };

function open(state: Partial<LingModelState> = {}, model = new FakeModel(state)) {
  const host = document.createElement("div");
  document.body.append(host);
  const frames = new ManualFrames();
  let clock = 0;
  const view = new LingView(model, host, { markdown: { schedule: frames.schedule }, now: () => clock });
  const q = <T extends Element = HTMLElement>(selector: string) => host.querySelector(selector) as T | null;
  const text = (selector: string) => (q(selector)?.textContent ?? "").replace(/\s+/g, " ").trim();
  return {
    model,
    host,
    view,
    q,
    text,
    root: () => q(".ling-widget") as HTMLElement,
    stop: () => q<HTMLButtonElement>(".ling-stop") as HTMLButtonElement,
    copy: () => q<HTMLButtonElement>(".ling-copy") as HTMLButtonElement,
    /** The rendered reply, after rendering whatever is pending. */
    body: () => {
      view.flush();
      return text(".ling-body");
    },
    advance: (ms: number) => (clock += ms),
  };
}

function delta(seq: number, content: string, extra: Partial<DeltaMessage> = {}): DeltaMessage {
  return { type: "delta", seq, content, reasoning: "", elapsed: 1 + seq * 0.1, ttft: 0.5, tokens_per_s: null, ...extra };
}

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("a view opening", () => {
  it("says hello once, and builds the widget in its element", () => {
    const { model, root } = open();
    expect(model.sent).toEqual([HELLO]);
    expect(root().dataset.status).toBe("waiting");
    for (const part of [".ling-status", ".ling-state", ".ling-body", ".ling-stop", ".ling-copy", ".ling-reasoning", ".ling-error"]) {
      expect(root().querySelector(part), part).not.toBeNull();
    }
  });

  it("shows the final reply from its snapshot when opened after the end", () => {
    const { model, body, q, stop, text, root } = open({
      status: "done",
      usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 },
      finish_reason: "stop",
      ttft: 0.25,
      tokens_per_s: 41.5,
      elapsed: 1.5,
    });
    model.message({ type: "snapshot", seq: 3, text: "# Done\n\n```python\nimport os\n```", reasoning: "" });
    expect(body()).toBe("Done import os");
    expect(q(".ling-body .hljs-keyword")?.textContent).toBe("import");
    expect(root().dataset.status).toBe("done");
    expect(text(".ling-state")).toBe("done");
    expect(stop().hidden).toBe(true);
    expect(text(".ling-usage")).toBe("42 tokens (12 in, 30 out)");
    expect(text(".ling-finish")).toBe("finish: stop");
    expect(text(".ling-rate")).toBe("41.5 tok/s");
    expect(text(".ling-ttft")).toBe("TTFT 0.25 s");
    expect(text(".ling-elapsed")).toBe("1.50 s");
    // Once it has the final text, a later snapshot (another view's hello) changes nothing.
    model.message({ type: "snapshot", seq: 9, text: "stale", reasoning: "" });
    expect(body()).toBe("Done import os");
  });
});

describe("streaming", () => {
  it("appends deltas in order and shows live stats", () => {
    const { model, body, q, root, text } = open();
    model.set({ status: "streaming" });
    model.message(delta(1, "Hello"));
    expect(q(".ling-rate")?.hidden).toBe(true); // the kernel gives no speed yet: too few tokens
    model.message(delta(2, ", *world*", { tokens_per_s: 2.857 }));
    expect(body()).toBe("Hello, world");
    expect(root().dataset.status).toBe("streaming");
    expect(text(".ling-state")).toBe("streaming");
    expect(text(".ling-ttft")).toBe("TTFT 0.50 s");
    expect(text(".ling-rate")).toBe("2.9 tok/s");
    expect(text(".ling-elapsed")).toBe("1.20 s");
  });

  it("ignores repeated and old deltas", () => {
    const { model, body } = open({ status: "streaming" });
    model.message(delta(1, "a"));
    model.message(delta(2, "b"));
    model.message(delta(2, "b"));
    model.message(delta(1, "a"));
    model.message(delta(3, "c"));
    expect(body()).toBe("abc");
  });

  it("replaces its content with a snapshot, then skips the deltas it already holds", () => {
    const { model, body } = open({ status: "streaming" });
    model.message(delta(1, "Hel"));
    model.message({ type: "snapshot", seq: 3, text: "Hello wor", reasoning: "" });
    expect(body()).toBe("Hello wor");
    model.message(delta(2, "lo"));
    model.message(delta(3, " wor"));
    model.message(delta(4, "ld"));
    expect(body()).toBe("Hello world");
  });

  it("holds deltas that arrive after a gap until the snapshot fills it", () => {
    const { model, body } = open({ status: "streaming" });
    // Opened mid-stream: the deltas it sees first are not the first ones.
    model.message(delta(5, " five"));
    model.message(delta(6, " six"));
    expect(body()).toBe("");
    model.message({ type: "snapshot", seq: 4, text: "one two three four", reasoning: "" });
    expect(body()).toBe("one two three four five six");
    model.message(delta(7, " seven"));
    expect(body()).toBe("one two three four five six seven");
  });

  it("ignores a snapshot older than what it has applied in order", () => {
    const { model, body } = open({ status: "streaming" });
    model.message(delta(1, "a"));
    model.message(delta(2, "b"));
    model.message(delta(3, "c"));
    model.message({ type: "snapshot", seq: 2, text: "ab", reasoning: "" });
    expect(body()).toBe("abc");
  });

  it("ignores messages it does not understand", () => {
    const { model, body } = open({ status: "streaming" });
    for (const junk of [null, "text", 42, {}, { type: "delta" }, { type: "other", seq: 1 }, { type: "delta", seq: "1" }]) {
      model.message(junk);
    }
    model.message(delta(1, "ok"));
    expect(body()).toBe("ok");
  });

  it("keeps the streamed text when the reply ends", () => {
    const { model, body } = open({ status: "streaming" });
    model.message(delta(1, "every "));
    model.message(delta(2, "delta"));
    model.set({ status: "done" });
    expect(body()).toBe("every delta");
  });

  it("shows the final status line when the reply ends, and ignores deltas after that", () => {
    const { model, body, stop, text, q } = open({ status: "streaming" });
    model.message(delta(1, "Hello world"));
    model.set({
      status: "done",
      finish_reason: "stop",
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
      tokens_per_s: 20,
      elapsed: 2,
      ttft: 0.4,
    });
    model.message(delta(2, " again"));
    expect(body()).toBe("Hello world");
    expect(stop().hidden).toBe(true);
    expect(text(".ling-state")).toBe("done");
    expect(text(".ling-usage")).toBe("5 tokens (3 in, 2 out)");
    expect(text(".ling-rate")).toBe("20.0 tok/s");
    expect(q(".ling-length")?.hidden).toBe(true);
  });

  it("shows no first token and no speed where the kernel gives none (a reply sent without streaming)", () => {
    const { model, q, text } = open({ status: "streaming" });
    model.message(delta(1, "All at once", { ttft: null, tokens_per_s: null }));
    model.set({ status: "done", ttft: null, tokens_per_s: null, elapsed: 6.18, finish_reason: "stop" });
    expect(q(".ling-ttft")?.hidden).toBe(true);
    expect(q(".ling-rate")?.hidden).toBe(true);
    expect(text(".ling-elapsed")).toBe("6.18 s");
  });

  it("lets the elapsed time run on between messages", () => {
    vi.useFakeTimers();
    const { model, text, advance } = open({ status: "streaming" });
    model.message(delta(1, "x", { elapsed: 1 }));
    expect(text(".ling-elapsed")).toBe("1.00 s");
    advance(2000);
    vi.advanceTimersByTime(600);
    expect(text(".ling-elapsed")).toBe("3.00 s");
    model.set({ status: "done", elapsed: 3.1 });
    advance(5000);
    vi.advanceTimersByTime(5000);
    expect(text(".ling-elapsed")).toBe("3.10 s");
  });
});

describe("Stop", () => {
  it("is a keyboard-reachable button, shown only while the reply runs", () => {
    const { model, stop } = open({ status: "waiting" });
    const button = stop();
    expect(button.tagName).toBe("BUTTON");
    expect(button.type).toBe("button");
    expect(button.getAttribute("aria-label")).toMatch(/stop/i);
    expect(button.tabIndex).toBe(0);
    expect(button.hidden).toBe(false);
    model.set({ status: "streaming" });
    expect(button.hidden).toBe(false);
    model.set({ status: "error", error: "boom" });
    expect(button.hidden).toBe(true);
  });

  it("shows stopping at once, sends stop, and applies no more deltas", () => {
    const { model, body, stop, root, text } = open({ status: "streaming" });
    model.message(delta(1, "Partial"));
    stop().click();
    expect(model.sent).toEqual([HELLO, { type: "stop" }]);
    expect(root().dataset.status).toBe("stopping");
    expect(text(".ling-state")).toBe("stopping…");
    expect(stop().disabled).toBe(true);
    stop().click();
    expect(model.sent).toHaveLength(2);

    model.message(delta(2, " more"));
    model.message({ type: "snapshot", seq: 3, text: "Partial more and more", reasoning: "" });
    expect(body()).toBe("Partial");

    model.set({ status: "stopped", finish_reason: null });
    expect(root().dataset.status).toBe("stopped");
    expect(text(".ling-state")).toBe("stopped");
    expect(stop().hidden).toBe(true);
    expect(body()).toBe("Partial");
  });

  it("offers no Stop in foreground mode (the waiting kernel could not take the click in), and still streams", () => {
    const { model, body, stop } = open({ status: "streaming", foreground: true });
    expect(stop().hidden).toBe(true);
    model.message(delta(1, "Live"));
    expect(body()).toBe("Live");
    expect(stop().hidden).toBe(true);
  });

  it("shows done if the reply ended before the stop took effect", () => {
    const { model, stop, root } = open({ status: "streaming" });
    stop().click();
    model.set({ status: "done" });
    expect(root().dataset.status).toBe("done");
  });
});

describe("Copy", () => {
  it("appears once there is text and copies the raw Markdown", async () => {
    const writeText = vi.fn(async (_: string) => undefined);
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    vi.useFakeTimers();
    const { model, copy } = open({ status: "streaming" });
    expect(copy().hidden).toBe(true);
    model.message(delta(1, "# Title\n\n*raw*"));
    expect(copy().hidden).toBe(false);
    copy().click();
    await vi.waitFor(() => expect(copy().textContent).toBe("Copied"));
    expect(writeText).toHaveBeenCalledWith("# Title\n\n*raw*");
    vi.advanceTimersByTime(2000);
    expect(copy().textContent).toBe("Copy");
    vi.unstubAllGlobals();
  });

  it("falls back to a hidden textarea without the clipboard API", async () => {
    vi.stubGlobal("navigator", { ...navigator, clipboard: undefined });
    let copied = "";
    const execCommand = vi.fn(() => {
      copied = (document.activeElement as HTMLTextAreaElement | null)?.value ?? "";
      return true;
    });
    Object.defineProperty(document, "execCommand", { value: execCommand, configurable: true });
    const { model, copy } = open({ status: "streaming" });
    model.message(delta(1, "final *text*"));
    model.set({ status: "done" });
    copy().click();
    await vi.waitFor(() => expect(copy().textContent).toBe("Copied"));
    expect(execCommand).toHaveBeenCalledWith("copy");
    expect(copied).toBe("final *text*");
    expect(document.querySelector("textarea")).toBeNull();
    vi.unstubAllGlobals();
  });
});

describe("reasoning, errors and notes", () => {
  it("shows reasoning open while the model thinks, and folds it when the reply starts", () => {
    const { model, q, body } = open({ status: "streaming" });
    const details = q<HTMLDetailsElement>(".ling-reasoning") as HTMLDetailsElement;
    expect(details.hidden).toBe(true);
    model.message(delta(1, "", { reasoning: "Let me think" }));
    expect(details.hidden).toBe(false);
    expect(details.open).toBe(true);
    model.message(delta(2, "The answer", { reasoning: "" }));
    expect(details.open).toBe(false);
    expect(body()).toBe("The answer");
    const reasoning = q(".ling-reasoning-body");
    expect(reasoning?.textContent?.trim()).toBe("Let me think");
  });

  it("leaves the reasoning as the user set it", async () => {
    const { model, q } = open({ status: "streaming" });
    const details = q<HTMLDetailsElement>(".ling-reasoning") as HTMLDetailsElement;
    model.message(delta(1, "", { reasoning: "Thinking" }));
    await new Promise((resolve) => setTimeout(resolve, 0));
    details.open = false; // the user folds it while it streams
    await new Promise((resolve) => setTimeout(resolve, 0));
    model.message(delta(2, "", { reasoning: " more" }));
    expect(details.open).toBe(false);
  });

  it("shows an error below the partial text, as an alert", () => {
    const { model, q, body, root } = open({ status: "streaming" });
    model.message(delta(1, "Partial answer"));
    const banner = q(".ling-error") as HTMLElement;
    expect(banner.hidden).toBe(true);
    model.set({ status: "error", error: "The connection dropped: the reply is incomplete." });
    expect(root().dataset.status).toBe("error");
    expect(banner.hidden).toBe(false);
    expect(banner.getAttribute("role")).toBe("alert");
    expect(banner.textContent).toBe("The connection dropped: the reply is incomplete.");
    const bodyEl = q(".ling-body") as HTMLElement;
    expect(bodyEl.compareDocumentPosition(banner) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(body()).toBe("Partial answer");
  });

  it("shows error text as text, never as HTML", () => {
    const { q } = open({ status: "error", error: "<img src=x onerror=alert(1)>" });
    expect(q(".ling-error img")).toBeNull();
    expect(q(".ling-error")?.textContent).toBe("<img src=x onerror=alert(1)>");
  });

  it("notes a reply cut by the token limit", () => {
    const { model, q } = open({ status: "streaming" });
    model.message(delta(1, "Cut sh"));
    model.set({ status: "done", finish_reason: "length" });
    expect(q(".ling-length")?.hidden).toBe(false);
    expect(q(".ling-length")?.textContent).toMatch(/token limit/);
    expect(q(".ling-finish")?.textContent).toBe("finish: length");
  });

  it("says a reply cut by the token limit is cut off, not done", () => {
    const { model, root, text } = open({ status: "streaming" });
    model.set({ status: "done", finish_reason: "length" });
    expect(root().dataset.status).toBe("cut");
    expect(text(".ling-state")).toBe("cut off at max tokens");
  });

  it("formats large token counts", () => {
    const { text } = open({
      status: "done",
      usage: { prompt_tokens: 1200, completion_tokens: 100000, total_tokens: 101200 },
    });
    expect(text(".ling-usage")).toBe("101,200 tokens (1,200 in, 100,000 out)");
  });

  it("shows the cost with the usage, and the notes of a resumed conversation or a replay", () => {
    const { model, text } = open({
      status: "streaming",
      notes: ["continues 4 earlier turns"],
    });
    expect(text(".ling-notes")).toBe("continues 4 earlier turns");
    model.set({
      status: "done",
      usage: { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500, cost: "$0.00021" },
      notes: ["continues 4 earlier turns", "replayed from 2026-12-05 18:00 UTC"],
    });
    expect(text(".ling-usage")).toBe("1,500 tokens (1,200 in, 300 out) · $0.00021");
    expect(text(".ling-notes")).toBe("continues 4 earlier turns · replayed from 2026-12-05 18:00 UTC");
  });

  it("shows the model name", () => {
    const { model, text } = open({ model_name: "Ling-2.6-flash" });
    expect(text(".ling-model")).toBe("Ling-2.6-flash");
    model.set({ model_name: "demo (offline)" });
    expect(text(".ling-model")).toBe("demo (offline)");
  });
});

describe("cleanup", () => {
  it("removes every listener and the view's element", () => {
    const { model, view, host } = open({ status: "streaming" });
    expect(model.listenerCount()).toBeGreaterThan(0);
    view.dispose();
    expect(model.listenerCount()).toBe(0);
    expect(host.children).toHaveLength(0);
    view.dispose();
  });

  it("never throws, and logs what failed", () => {
    const model = new FakeModel({ status: "streaming" });
    model.off = () => {
      throw new Error("gone");
    };
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const { view } = open({}, model);
    expect(() => view.dispose()).not.toThrow();
    expect(error).toHaveBeenCalled();
    expect(String(error.mock.calls[0][0])).toMatch(/^\[ling-notebook\]/);
  });

  it("keeps views of one model independent", () => {
    const model = new FakeModel({ status: "streaming" });
    const first = open({}, model);
    const second = open({}, model);
    expect(model.sent).toEqual([HELLO, HELLO]);
    model.message(delta(1, "shared"));
    expect(first.body()).toBe("shared");
    expect(second.body()).toBe("shared");
    first.view.dispose();
    model.message(delta(2, " text"));
    expect(second.body()).toBe("shared text");
  });
});

describe("the renderer bundle's entry point", () => {
  it("renders a view and returns its cleanup", async () => {
    const model = new FakeModel({ status: "streaming" });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanup = app.render({ model, el });
    expect(model.sent).toEqual([HELLO]);
    model.message(delta(1, "Hello **there**"));
    await vi.waitFor(() => expect(el.querySelector(".ling-body strong")?.textContent).toBe("there"));
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(() => cleanup()).not.toThrow();
  });
});

describe("what a waiting reply waits for", () => {
  it("says it waits for the reply above, or for the server with the seconds ticking in the view", () => {
    vi.useFakeTimers();
    const { model, text, advance } = open({ status: "waiting" });
    expect(text(".ling-state")).toBe("waiting…");
    model.set({ waiting_for: "reply" });
    expect(text(".ling-state")).toBe("waiting for the reply above");
    model.set({ waiting_for: "server" });
    expect(text(".ling-state")).toBe("waiting for the server");
    advance(3200);
    vi.advanceTimersByTime(500);
    expect(text(".ling-state")).toBe("waiting for the server (3 s)");
    model.set({ status: "streaming" });
    expect(text(".ling-state")).toBe("streaming");
  });

  it("keeps the ticking seconds out of the live region", () => {
    const { model, q } = open({ status: "waiting", waiting_for: "server" });
    model.set({ status: "waiting" });
    expect(q("[role=status]")?.textContent).toBe("waiting for the server");
  });
});

describe("Stop from the keyboard", () => {
  it("gives the focus back to the notebook cell, not to <body>", () => {
    const cell = document.createElement("div");
    cell.className = "jp-Cell";
    cell.tabIndex = 0;
    document.body.append(cell);
    const host = document.createElement("div");
    cell.append(host);
    const model = new FakeModel({ status: "streaming" });
    const view = new LingView(model, host, { markdown: { schedule: new ManualFrames().schedule } });
    const stop = host.querySelector(".ling-stop") as HTMLButtonElement;
    stop.focus();
    stop.click();
    expect(stop.disabled).toBe(true);
    expect(document.activeElement).toBe(cell);
    view.dispose();
  });
});
