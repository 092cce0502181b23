import { afterEach, describe, expect, it, vi } from "vitest";
import { CompareView } from "../compare";
import type { ColumnDelta, CompareModelState, LingModelState } from "../contract";
import app from "../app";
import { FakeModel, INITIAL_STATE } from "./fake-model";
import { ManualFrames } from "./frames";

/** The hello a view sends: with its own random id. */
const HELLO = { type: "hello", view: expect.any(String) };

const MODELS = ["model-a", "model-b", "model-c"];

function column(patch: Partial<LingModelState> = {}): LingModelState {
  return { ...INITIAL_STATE, status: "streaming", ...patch };
}

function open(columns = MODELS.map((name) => column({ model_name: name }))) {
  const model = new FakeModel<CompareModelState>({}, { columns });
  const host = document.createElement("div");
  document.body.append(host);
  const frames = new ManualFrames();
  const view = new CompareView(model, host, { markdown: { schedule: frames.schedule }, now: () => 0 });
  const columnsEl = () => [...host.querySelectorAll<HTMLElement>(".ling-column")];
  const body = (i: number) => {
    view.flush();
    return (columnsEl()[i].querySelector(".ling-body")?.textContent ?? "").replace(/\s+/g, " ").trim();
  };
  const part = (i: number, selector: string) => columnsEl()[i].querySelector<HTMLElement>(selector) as HTMLElement;
  const stopAll = () => host.querySelector<HTMLButtonElement>(".ling-stop-all") as HTMLButtonElement;
  /** Changes one column's synced state, as the kernel does: the whole list is sent again. */
  const setColumn = (i: number, patch: Partial<LingModelState>) => {
    const next = model.state.columns.map((c, j) => (j === i ? { ...c, ...patch } : c));
    model.set({ columns: next });
  };
  return { model, host, view, columnsEl, body, part, stopAll, setColumn };
}

function piece(index: number, content: string, extra: Partial<ColumnDelta> = {}): ColumnDelta {
  return { index, content, reasoning: "", elapsed: 1, ttft: 0.2, tokens_per_s: null, ...extra };
}

function delta(seq: number, ...columns: ColumnDelta[]) {
  return { type: "delta", seq, columns };
}

afterEach(() => {
  document.body.replaceChildren();
  vi.restoreAllMocks();
});

describe("a comparison view", () => {
  it("shows one column per model, with its own status line and Stop, and says hello once", () => {
    const { model, columnsEl, part, stopAll } = open();
    expect(model.sent).toEqual([HELLO]);
    expect(columnsEl()).toHaveLength(3);
    MODELS.forEach((name, i) => {
      expect(part(i, ".ling-model").textContent).toBe(name);
      expect(part(i, ".ling-stop").hidden).toBe(false);
      expect(part(i, ".ling-stop").getAttribute("aria-label")).toBe(`Stop ${name}`);
    });
    expect(stopAll().hidden).toBe(false);
  });

  it("offers no Stop and no Stop all in foreground mode", () => {
    const model = new FakeModel<CompareModelState>({}, { columns: MODELS.map((name) => column({ model_name: name })),
      foreground: true });
    const host = document.createElement("div");
    new CompareView(model, host, { now: () => 0 });
    expect([...host.querySelectorAll<HTMLElement>(".ling-stop")].map((b) => b.hidden)).toEqual([true, true, true]);
    expect(host.querySelector<HTMLElement>(".ling-stop-all")?.hidden).toBe(true);
  });

  it("grows every column from one message carrying several columns' deltas", () => {
    const { model, body, part } = open();
    model.message(delta(1, piece(0, "Alpha "), piece(2, "Gamma ")));
    model.message(delta(2, piece(1, "**Beta**"), piece(0, "more")));
    expect([body(0), body(1), body(2)]).toEqual(["Alpha more", "Beta", "Gamma"]);
    expect(part(1, ".ling-body strong")?.textContent).toBe("Beta");
    expect(part(0, ".ling-ttft").textContent).toBe("TTFT 0.20 s");
  });

  it("fills a gap from the snapshot that answers its hello, then applies held deltas", () => {
    const { model, body } = open();
    model.message(delta(3, piece(0, " three"), piece(1, " B3")));
    expect(body(0)).toBe("");
    model.message({ type: "snapshot", seq: 2, columns: [{ text: "one two", reasoning: "" },
      { text: "B1 B2", reasoning: "" }, { text: "", reasoning: "" }] });
    expect([body(0), body(1), body(2)]).toEqual(["one two three", "B1 B2 B3", ""]);
    model.message(delta(2, piece(0, " two again")));
    expect(body(0)).toBe("one two three");
  });

  it("stops one column: only its index is sent, it stops taking text, the others go on", () => {
    const { model, body, part, columnsEl } = open();
    model.message(delta(1, piece(0, "A1"), piece(1, "B1")));
    part(1, ".ling-stop").click();
    expect(model.sent).toEqual([HELLO, { type: "stop", column: 1 }]);
    expect(columnsEl()[1].dataset.status).toBe("stopping");
    expect(columnsEl()[0].dataset.status).toBe("streaming");
    model.message(delta(2, piece(0, " A2"), piece(1, " B2")));
    expect([body(0), body(1)]).toEqual(["A1 A2", "B1"]);
  });

  it("Stop all shows stopping in every running column at once and sends one stop", () => {
    const { model, stopAll, columnsEl, setColumn } = open();
    setColumn(2, { status: "done", finish_reason: "stop" });
    stopAll().click();
    expect(model.sent).toEqual([HELLO, { type: "stop" }]);
    expect(columnsEl().map((c) => c.dataset.status)).toEqual(["stopping", "stopping", "done"]);
    expect(stopAll().disabled).toBe(true);
    stopAll().click();
    expect(model.sent).toHaveLength(2);
    setColumn(0, { status: "stopped" });
    setColumn(1, { status: "stopped" });
    expect(stopAll().hidden).toBe(true);
  });

  it("shows a failing model's error in its column and keeps its partial text", () => {
    const { model, body, part, columnsEl, setColumn } = open();
    model.message(delta(1, piece(0, "partial"), piece(1, "fine")));
    setColumn(0, { status: "error", error: "Model 'x' was not found <b>here</b>" });
    model.message(delta(2, piece(1, " and more")));
    expect(body(0)).toBe("partial");
    expect(part(0, ".ling-error").textContent).toBe("Model 'x' was not found <b>here</b>");
    expect(part(0, ".ling-error b")).toBeNull();
    expect(part(1, ".ling-error").hidden).toBe(true);
    expect(body(1)).toBe("fine and more");
    expect(columnsEl().map((c) => c.dataset.status)).toEqual(["error", "streaming", "streaming"]);
  });

  it("shows each column's final numbers when it ends", () => {
    const { part, setColumn } = open();
    setColumn(1, { status: "done", finish_reason: "length", ttft: 0.5, tokens_per_s: 12.25, elapsed: 3,
      usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } });
    expect(part(1, ".ling-usage").textContent).toBe("12 tokens (5 in, 7 out)");
    expect(part(1, ".ling-finish").textContent).toBe("finish: length");
    expect(part(1, ".ling-rate").textContent).toBe("12.3 tok/s");
    expect(part(1, ".ling-length").hidden).toBe(false);
    expect(part(0, ".ling-finish").hidden).toBe(true);
  });

  it("ignores messages it does not understand", () => {
    const { model, body } = open();
    for (const junk of [null, "x", { type: "delta" }, { type: "delta", seq: 1 }, { type: "other", seq: 1, columns: [] }]) {
      model.message(junk);
    }
    model.message(delta(1, piece(7, "nowhere"), piece(0, "here")));
    expect(body(0)).toBe("here");
  });
});

describe("the renderer's entry point", () => {
  it("renders a comparison for a model with columns, and its cleanup removes every listener", async () => {
    const model = new FakeModel<CompareModelState>({}, { columns: [column(), column()] });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanup = app.render({ model, el });
    expect(el.querySelectorAll(".ling-column")).toHaveLength(2);
    model.message(delta(1, piece(1, "Hello **there**")));
    await vi.waitFor(() => expect(el.querySelector(".ling-column:nth-child(2) strong")?.textContent).toBe("there"));
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.children).toHaveLength(0);
  });
});
