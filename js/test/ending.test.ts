import { afterEach, describe, expect, it, vi } from "vitest";
import { FINAL_EVENT, type FinalDetail } from "../contract";
import { COPY_MIME } from "../copyview";
import { keep, type KeptData, type NotebookTracker } from "../keep";
import { UNSAVED_NOTE } from "../presence";
import { LingView } from "../view";
import { FakeModel } from "./fake-model";
import { ManualFrames } from "./frames";

const BUNDLE = { "text/html": "<div class=\"ling-static\">final</div>", "text/plain": "final" };
const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

function open(model = new FakeModel({ status: "streaming" })) {
  const host = document.createElement("div");
  document.body.append(host);
  const frames = new ManualFrames();
  const view = new LingView(model, host, { markdown: { schedule: frames.schedule } });
  model.message({ type: "snapshot", seq: 0, text: "the words so far", reasoning: "" });
  model.set({ status: "stopped" });
  return { model, host, view };
}

afterEach(() => {
  document.body.replaceChildren();
  vi.restoreAllMocks();
});

describe("a view at the end of its reply", () => {
  it("asks for the copy when the end reaches it (update_display missed it)", () => {
    const { model } = open();
    model.message({ type: "ended" });
    expect(model.sent.at(-1)).toEqual({ type: "copy" });
  });

  it("hands the copy to the page's extension, which keeps it: no note", () => {
    const { model, host } = open();
    const seen: FinalDetail[] = [];
    const listener = (event: Event) => {
      seen.push((event as CustomEvent<FinalDetail>).detail);
      event.preventDefault();
    };
    document.addEventListener(FINAL_EVENT, listener);
    try {
      model.message({ type: "final", bundle: BUNDLE, model_id: "m1" });
    } finally {
      document.removeEventListener(FINAL_EVENT, listener);
    }
    expect(seen).toEqual([{ bundle: BUNDLE, model_id: "m1" }]);
    expect(host.querySelector(".ling-unsaved")).toBeNull();
  });

  it("without an extension keeps its text and says once that it is not saved", () => {
    const { model, host, view } = open();
    model.message({ type: "final", bundle: BUNDLE, model_id: "m1" });
    model.message({ type: "final", bundle: BUNDLE, model_id: "m1" });
    view.flush();
    expect(host.querySelectorAll(".ling-unsaved")).toHaveLength(1);
    expect(host.querySelector(".ling-unsaved")?.textContent).toBe(UNSAVED_NOTE);
    expect(host.querySelector(".ling-body")?.textContent).toContain("the words so far");
  });

  it("says bye with the id of its hello when it goes, and when its page unloads", () => {
    const { model, view } = open();
    const hello = model.sent[0] as { type: string; view: string };
    globalThis.dispatchEvent(new Event("pagehide"));
    view.dispose();
    expect(model.sent.filter((m) => (m as { type: string }).type === "bye")).toEqual([
      { type: "bye", view: hello.view, away: true },
      { type: "bye", view: hello.view },
    ]);
    globalThis.dispatchEvent(new Event("pagehide"));
    expect(model.sent.filter((m) => (m as { type: string }).type === "bye")).toHaveLength(2);
  });
});

/** A notebook as the extension sees it: one panel, cells with output areas whose models hold plain data. */
function notebook(outputs: Array<Record<string, unknown>>) {
  const panel = document.createElement("div");
  const cell = document.createElement("div");
  panel.append(cell);
  document.body.append(panel);
  const data = outputs.map((d) => ({ data: d }));
  const nodes = data.map(() => cell.appendChild(document.createElement("div")));
  const model = {
    get length() {
      return data.length;
    },
    get: (i: number) => data[i],
    set: vi.fn((i: number, output: { data: KeptData }) => {
      data[i] = { data: output.data };
    }),
  };
  const area = { widgets: nodes.map((node) => ({ node })), model };
  const tracker: NotebookTracker = {
    forEach: (f) => f({ node: panel, content: { widgets: [{ node: cell, outputArea: area }] } }),
  };
  return { tracker, nodes, model, data };
}

function finalEvent(target: HTMLElement, detail: FinalDetail = { bundle: BUNDLE, model_id: "m1" }): CustomEvent<FinalDetail> {
  const event = new CustomEvent<FinalDetail>(FINAL_EVENT, { bubbles: true, cancelable: true, detail });
  Object.defineProperty(event, "target", { value: target });
  return event;
}

describe("the extension", () => {
  it("replaces the widget output that holds the view by the copy, in the output model", () => {
    const { tracker, nodes, model, data } = notebook([{ "text/plain": "printed" }, { [WIDGET_VIEW]: { model_id: "m1" } }]);
    const view = nodes[1].appendChild(document.createElement("span"));
    expect(keep(tracker, finalEvent(view))).toBe(true);
    expect(model.set).toHaveBeenCalledWith(1, { output_type: "display_data", data: BUNDLE, metadata: {} });
    expect(data[0]).toEqual({ data: { "text/plain": "printed" } });
  });

  it("keeps the copy's metadata (the Markdown its Copy buttons copy) with it", () => {
    const { tracker, nodes, model } = notebook([{ [WIDGET_VIEW]: { model_id: "m1" } }]);
    const metadata = { "ling_notebook": { markdown: ["**final**"] } };
    expect(keep(tracker, finalEvent(nodes[0], { bundle: BUNDLE, model_id: "m1", metadata }))).toBe(true);
    expect(model.set).toHaveBeenCalledWith(0, { output_type: "display_data", data: BUNDLE, metadata });
  });

  it("leaves an output update_display replaced already, and views outside any notebook", () => {
    const { tracker, nodes, model } = notebook([{ "text/html": "the copy" }]);
    expect(keep(tracker, finalEvent(nodes[0]))).toBe(false);
    expect(keep(tracker, finalEvent(document.body.appendChild(document.createElement("div"))))).toBe(false);
    expect(model.set).not.toHaveBeenCalled();
  });

  it("replaces only the output that shows the widget named in the event", () => {
    const { tracker, nodes, model } = notebook([{ [WIDGET_VIEW]: { model_id: "other" } }]);
    const view = nodes[0].appendChild(document.createElement("span"));
    expect(keep(tracker, finalEvent(view))).toBe(false);
    expect(keep(tracker, finalEvent(view, { bundle: BUNDLE } as unknown as FinalDetail))).toBe(false);
    expect(model.set).not.toHaveBeenCalled();
  });

  it("keeps no script from the page: HTML without it, plain text, and no other type", () => {
    const { tracker, nodes, data } = notebook([{ [WIDGET_VIEW]: { model_id: "m1" } }]);
    const view = nodes[0].appendChild(document.createElement("span"));
    const bundle = {
      "text/html": '<style>.ling-static{color:red}</style><div class="ling-static" onclick="alert(1)">x' +
        '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">y</a><script>alert(4)</script></div>',
      "text/plain": "x y",
      "application/javascript": "alert(5)",
      "text/markdown": "x",
    };
    expect(keep(tracker, finalEvent(view, { bundle, model_id: "m1" }))).toBe(true);
    const kept = data[0].data as Record<string, string>;
    expect(Object.keys(kept).sort()).toEqual(["text/html", "text/plain"]);
    expect(kept["text/html"]).toContain("<style>.ling-static{color:red}</style>");
    expect(kept["text/html"]).toContain('<div class="ling-static">x');
    expect(kept["text/html"]).not.toMatch(/onclick|onerror|javascript:|<script/);
  });

  it("keeps the mark that has the extension draw the copy, as an empty object", () => {
    const { tracker, nodes, data } = notebook([{ [WIDGET_VIEW]: { model_id: "m1" } }]);
    const view = nodes[0].appendChild(document.createElement("span"));
    const bundle = { "text/html": '<div class="ling-static">x</div>', "text/plain": "x", [COPY_MIME]: { html: "<b>" } };
    expect(keep(tracker, finalEvent(view, { bundle, model_id: "m1" }))).toBe(true);
    expect(data[0].data).toEqual({ "text/html": '<div class="ling-static">x</div>', "text/plain": "x", [COPY_MIME]: {} });
  });
});
