/**
 * Temml comes in a bundle of its own, imported when a formula is first shown (formulas.ts `provideMath`):
 * until then a formula shows its source, and the views that showed it render it again when math arrives.
 * Each test takes fresh modules: a page without math yet.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { MathEngine } from "../formulas";
import { ManualFrames } from "./frames";

async function page(options: { now?: () => number } = {}) {
  vi.resetModules();
  const formulas = await import("../formulas");
  const { MarkdownView } = await import("../renderer");
  const { default: temml } = await import("../math");
  const frames = new ManualFrames();
  const el = document.createElement("div");
  document.body.append(el);
  const view = new MarkdownView(el, { schedule: frames.schedule, ...options });
  let imports = 0;
  let arrive!: (engine: MathEngine) => void;
  let fail!: (err: Error) => void;
  formulas.provideMath(() => {
    imports++;
    return new Promise<MathEngine>((resolve, reject) => {
      arrive = resolve;
      fail = reject;
    });
  });
  const show = (text: string) => {
    view.append(text);
    frames.drain();
  };
  const settle = async () => {
    await vi.waitFor(() => expect(frames.waiting).toBeGreaterThan(0));
    frames.drain();
  };
  return {
    el, view, frames, show, settle, temml, arrive: (e: MathEngine) => arrive(e), fail: (e: Error) => fail(e),
    imports: () => imports,
    math: () => el.querySelectorAll("math").length,
    pending: () => [...el.querySelectorAll(".ling-math-pending")].map((n) => n.textContent),
  };
}

beforeEach(() => document.body.replaceChildren());

describe("math loaded on the first formula", () => {
  it("imports nothing for text without formulas", async () => {
    const p = await page();
    p.show("Prices: $5 and $10 today.\n\nCode: `$x$`.");
    expect(p.imports()).toBe(0);
    expect(p.pending()).toEqual([]);
  });

  it("shows closed and open blocks' formulas as source, imports once, then renders them as math", async () => {
    const p = await page();
    p.show("First $a+b$ here.\n\n$$\\frac{1}{2}$$\n\nStill open \\(c^2\\)");
    expect(p.imports()).toBe(1);
    expect(p.pending()).toEqual(["$a+b$", "$$\\frac{1}{2}$$", "\\(c^2\\)"]);
    expect(p.math()).toBe(0);
    p.show(" and $d$");
    expect(p.imports()).toBe(1);

    p.arrive(p.temml);
    await p.settle();
    expect(p.pending()).toEqual([]);
    expect(p.math()).toBe(4);
    expect(p.el.textContent).toContain("First");
    expect(p.el.querySelectorAll(".ling-block")).toHaveLength(3);
    expect(p.el.querySelector(".ling-block:last-child")?.classList.contains("ling-tail")).toBe(true);
  });

  it("renders the blocks again within the frames' budget, the first block first", async () => {
    let clock = 0;
    const p = await page({ now: () => (clock += 3) }); // every look at the clock: 3 ms of work
    p.show(Array.from({ length: 12 }, (_, i) => `Block ${i} with $x_${i}$.`).join("\n\n"));
    expect(p.pending()).toHaveLength(12);
    p.arrive(p.temml);
    await vi.waitFor(() => expect(p.frames.waiting).toBeGreaterThan(0));
    p.frames.frame();
    const first = p.math();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(12);
    expect(p.el.querySelector(".ling-block math")).not.toBeNull(); // the first block is among the first done
    p.frames.drain();
    expect(p.math()).toBe(12);
    expect(p.pending()).toEqual([]);
  });

  it("draws them again while a stream fills every frame's budget", async () => {
    let clock = 0;
    const p = await page({ now: () => (clock += 10) }); // every look at the clock: past an 8 ms budget
    p.show("First $a$.\n\nSecond $b$.\n\n");
    p.arrive(p.temml);
    await vi.waitFor(() => expect(p.frames.waiting).toBeGreaterThan(0));
    for (let i = 0; i < 3; i++) {
      p.view.append(`More text ${i}.\n\n`);
      p.frames.frame();
    }
    expect(p.math()).toBe(2);
  });

  it("renders a block that closed while math loaded with math, and later formulas at once", async () => {
    const p = await page();
    p.show("Open $x$");
    p.show(" still.\n\nNext");
    p.arrive(p.temml);
    await p.settle();
    p.show(" with $y$.");
    expect(p.pending()).toEqual([]);
    expect(p.math()).toBe(2);
  });

  it("shows every formula's source with the reason when math cannot be loaded", async () => {
    const p = await page();
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    p.show("Broken $x$ math.\n\nOpen $y$");
    p.fail(new Error("blocked"));
    await p.settle();
    expect(p.pending()).toEqual([]);
    const shown = [...p.el.querySelectorAll(".ling-math-error")];
    expect(shown.map((n) => n.textContent)).toEqual(["$x$", "$y$"]);
    expect(shown.every((n) => n.getAttribute("title") === "Math could not be loaded in this page.")).toBe(true);
    expect(errors).toHaveBeenCalled();
    errors.mockRestore();
  });

  it("does not touch a view disposed before math arrived", async () => {
    const p = await page();
    p.show("Gone $x$.\n\nOpen");
    const before = p.el.innerHTML;
    p.view.dispose();
    p.arrive(p.temml);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(p.el.innerHTML).toBe(before);
  });
});
