import { afterEach, describe, expect, it, vi } from "vitest";
import app from "../app";
import { PageLoader } from "../loader";
import math from "../math";
import { mount } from "../widget";
import { FakeModel } from "./fake-model";

/** The hello a reply view sends: with its own random id. */
const HELLO = { type: "hello", view: expect.any(String) };

const ANSWER = {
  type: "renderer",
  hash: "h1",
  js: "the bundle's source",
  css: ".ling-widget { color: red }",
  math: "the math bundle's source",
};

/** A browser page (or frame): its global object and document, and the bundles it imported. */
function page(doc: Document = document, options: { fail?: boolean; hash?: string } = {}) {
  const scope = {};
  const imported: string[] = [];
  const importSource = async (source: string): Promise<unknown> => {
    imported.push(source);
    if (options.fail) throw new Error("bad bundle");
    return source === ANSWER.math ? math : app;
  };
  const open = (model = new FakeModel({ status: "streaming" })) => {
    const el = doc.createElement("div");
    doc.body.append(el);
    const loader = PageLoader.of(scope, options.hash ?? "h1", doc, { importSource, retryMs: 5_000 });
    const cleanup = mount(model, el, loader.request(model));
    return { model, el, cleanup, body: () => el.querySelector(".ling-body")?.textContent?.trim() ?? null };
  };
  return { scope, imported, open };
}

const asked = (model: FakeModel) => model.sent.filter((m) => (m as { type: string }).type === "renderer").length;
const styles = (doc: Document = document) => doc.head.querySelectorAll("style[id^=ling-notebook-css-]").length;

afterEach(() => {
  document.body.replaceChildren();
  document.head.replaceChildren();
  vi.useRealTimers();
});

describe("the stub loading the renderer", () => {
  it("asks once for a page where several views open before the answer, then renders them all", async () => {
    const { open, imported } = page();
    const views = [open(), open(), open()];
    expect(views.map((v) => asked(v.model))).toEqual([1, 0, 0]);
    for (const v of views) expect(v.el.textContent).toBe("Loading the reply view…");
    // Nobody says hello before the renderer is there: a snapshot would have no view to go to.
    expect(views.flatMap((v) => v.model.sent)).toEqual([{ type: "renderer" }]);

    views[0].model.message(ANSWER);
    await vi.waitFor(() => expect(views.every((v) => v.el.querySelector(".ling-widget"))).toBe(true));
    expect(imported).toHaveLength(1);
    expect(styles()).toBe(1);
    expect(document.head.textContent).toContain(".ling-widget { color: red }");
    for (const v of views) expect(v.model.sent.at(-1)).toEqual(HELLO);
    expect(views.map((v) => v.el.querySelector(".ling-loading"))).toEqual([null, null, null]);
  });

  it("takes the renderer a foreground widget carries, without asking, and later views reuse it", async () => {
    const { open, imported } = page();
    const { hash, js, css, math: mathSource } = ANSWER;
    const carrying = open(new FakeModel({ status: "streaming", _renderer: { hash, js, css, math: mathSource } } as object));
    await vi.waitFor(() => expect(carrying.el.querySelector(".ling-widget")).not.toBeNull());
    const later = open();
    await vi.waitFor(() => expect(later.el.querySelector(".ling-widget")).not.toBeNull());
    expect([asked(carrying.model), asked(later.model)]).toEqual([0, 0]);
    expect(imported).toHaveLength(1);
    expect(styles()).toBe(1);
  });

  it("loses no text sent before the renderer arrived: the hello after it brings a snapshot", async () => {
    const { open } = page();
    const v = open();
    v.model.message({ type: "delta", seq: 1, content: "lost ", reasoning: "", elapsed: 1, ttft: 0.5, tokens_per_s: null });
    v.model.message(ANSWER);
    await vi.waitFor(() => expect(v.model.sent.at(-1)).toEqual(HELLO));
    v.model.message({ type: "snapshot", seq: 1, text: "lost ", reasoning: "" });
    v.model.message({ type: "delta", seq: 2, content: "and found", reasoning: "", elapsed: 1, ttft: 0.5, tokens_per_s: null });
    await vi.waitFor(() => expect(v.body()).toBe("lost and found"));
  });

  it("imports the math bundle it was sent only when a view first shows a formula, then shows it", async () => {
    const { open, imported } = page();
    const v = open();
    v.model.message(ANSWER);
    await vi.waitFor(() => expect(v.model.sent.at(-1)).toEqual(HELLO));
    v.model.message({ type: "snapshot", seq: 1, text: "No formula yet.", reasoning: "" });
    await vi.waitFor(() => expect(v.body()).toBe("No formula yet."));
    expect(imported).toEqual([ANSWER.js]);
    v.model.message({ type: "delta", seq: 2, content: " Now $x^2$.", reasoning: "", elapsed: 1, ttft: 0.5, tokens_per_s: null });
    await vi.waitFor(() => expect(v.el.querySelector(".ling-body math")).not.toBeNull());
    expect(imported).toEqual([ANSWER.js, ANSWER.math]);
    expect(v.el.querySelector(".ling-math-pending")).toBeNull();
  });

  it("renders later views at once, without asking again", async () => {
    const { open } = page();
    const first = open();
    first.model.message(ANSWER);
    await vi.waitFor(() => expect(first.el.querySelector(".ling-widget")).not.toBeNull());
    const later = open();
    await vi.waitFor(() => expect(later.el.querySelector(".ling-widget")).not.toBeNull());
    expect(later.model.sent).toEqual([HELLO]);
    expect(styles()).toBe(1);
  });

  it("lets the next view ask when the view that asked closes before the answer", async () => {
    const { open } = page();
    const [first, second, third] = [open(), open(), open()];
    first.cleanup(); // its reply ended: the kernel will never answer on this widget
    expect([asked(first.model), asked(second.model), asked(third.model)]).toEqual([1, 1, 0]);
    expect(first.model.listenerCount()).toBe(0);
    second.model.message(ANSWER);
    await vi.waitFor(() => expect(third.el.querySelector(".ling-widget")).not.toBeNull());
    expect(first.el.childElementCount).toBe(0);
  });

  it("asks again from the newest view when no answer comes", async () => {
    vi.useFakeTimers();
    const { open } = page();
    const [first, second] = [open(), open()];
    vi.advanceTimersByTime(5_000);
    expect([asked(first.model), asked(second.model)]).toEqual([1, 1]);
    second.model.message(ANSWER);
    vi.useRealTimers();
    await vi.waitFor(() => expect(first.el.querySelector(".ling-widget")).not.toBeNull());
  });

  it("asks once in each frame: an iframe has its own global object and document", async () => {
    const iframe = document.createElement("iframe");
    document.body.append(iframe);
    const frameDoc = iframe.contentDocument as Document;
    const top = page();
    const frame = page(frameDoc);
    const [a, b] = [top.open(), frame.open()];
    expect([asked(a.model), asked(b.model)]).toEqual([1, 1]);
    a.model.message(ANSWER);
    b.model.message(ANSWER);
    await vi.waitFor(() => expect(b.el.querySelector(".ling-widget")).not.toBeNull());
    expect([styles(), styles(frameDoc)]).toEqual([1, 1]);
  });

  it("never reuses a renderer built for another version (another hash)", async () => {
    const scope = {};
    const old = PageLoader.of(scope, "old", document);
    expect(PageLoader.of(scope, "old", document)).toBe(old);
    expect(PageLoader.of(scope, "new", document)).not.toBe(old);
  });

  it("refuses a renderer of another build, and says so", async () => {
    const { open, imported } = page();
    const view = open();
    view.model.message({ ...ANSWER, hash: "h0" });
    await vi.waitFor(() => expect(view.el.textContent).toContain("could not load its renderer"));
    expect(imported).toEqual([]);
  });

  it("says so when the bundle does not load, and a later view asks again", async () => {
    const { open } = page(document, { fail: true });
    const first = open();
    first.model.message(ANSWER);
    await vi.waitFor(() => expect(first.el.textContent).toContain("could not load its renderer"));
    const second = open();
    expect(asked(second.model)).toBe(1);
  });

  it("cleans up a view that closes after the renderer arrived", async () => {
    const { open } = page();
    const v = open();
    v.model.message(ANSWER);
    await vi.waitFor(() => expect(v.el.querySelector(".ling-widget")).not.toBeNull());
    v.cleanup();
    expect(v.model.listenerCount()).toBe(0);
    expect(v.el.childElementCount).toBe(0);
    expect(() => v.cleanup()).not.toThrow();
  });
});
