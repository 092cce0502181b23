import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../markdown";
import { MarkdownView } from "../renderer";
import { MAX_TEX_CHARS, provideMath } from "../formulas";
import math from "../math";
import { ManualFrames } from "./frames";
import SHARED from "./formula-cases.json";

/** Shared with tests/test_formulas.py: the static copy shows the same text as math, the same way. */
const CASES = SHARED as Array<[string, string]>;

// Temml at once, as a page has it once the math bundle is imported (mathload.test.ts: before that).
provideMath(math);

/**
 * What a reader sees, in words: a formula is ⟦I⟧ (inline) or ⟦D⟧ (display), a formula shown as its
 * source is ⟦E:source⟧, everything else its text (formulas.py's tests read the static copy the same way).
 */
function seen(root: Node): string {
  const parts: string[] = [];
  const walk = (node: Node): void => {
    if (node.nodeType === Node.TEXT_NODE) {
      parts.push(node.textContent ?? "");
      return;
    }
    if (!(node instanceof Element)) return;
    if (node.localName === "math") parts.push(node.getAttribute("display") === "block" ? "⟦D⟧" : "⟦I⟧");
    else if (node.classList.contains("ling-math-error")) parts.push(`⟦E:${node.textContent}⟧`);
    else node.childNodes.forEach(walk);
  };
  walk(root);
  return parts.join("").replace(/\s+/g, " ").trim();
}

function stream() {
  const frames = new ManualFrames();
  const el = document.createElement("div");
  const view = new MarkdownView(el, { schedule: frames.schedule });
  return { frames, el, view };
}

/** Every element and attribute that could run or load something, or restyle the page. */
function dangers(el: Element): string[] {
  const found: string[] = [];
  for (const node of el.querySelectorAll("*")) {
    if (["script", "style", "img", "iframe", "object", "embed", "link", "foreignobject"].includes(node.localName)) {
      found.push(node.localName);
    }
    for (const attr of node.attributes) {
      if (attr.name.startsWith("on") || attr.name === "style" || attr.name.includes("href") || attr.name === "src") {
        found.push(`${node.localName}@${attr.name}=${attr.value}`);
      }
      if (attr.name === "class" && node.namespaceURI?.endsWith("MathML")) found.push(`${node.localName}@class`);
    }
  }
  return found;
}

describe("math in the live view", () => {
  it.each(CASES)("shows %j as %j", (src, expected) => {
    const el = document.createElement("div");
    el.append(renderMarkdown(src, true));
    expect(seen(el)).toBe(expected);
    expect(dangers(el)).toEqual([]);
  });

  it.each(CASES)("streams %j to the same result, never showing an open formula as math", (src, expected) => {
    const { frames, el, view } = stream();
    for (let cut = 1; cut <= src.length; cut++) {
      view.append(src.slice(cut - 1, cut));
      frames.frame();
      const shown = seen(el);
      const alone = document.createElement("div");
      alone.append(renderMarkdown(src.slice(0, cut), false, 0, true));
      // What the stream shows so far is what the text so far shows, rendered at once (formulas only
      // where their closing delimiter has come).
      expect(shown.replace(/⟦E:[^⟧]*⟧/g, "⟦E⟧")).toBe(seen(alone).replace(/⟦E:[^⟧]*⟧/g, "⟦E⟧"));
    }
    view.setFinal(true);
    view.flush();
    expect(seen(el)).toBe(expected);
  });

  it("shows a formula that is still open as its source, and as math once it closes", () => {
    const { frames, el, view } = stream();
    view.append("The gradient $\\nabla_\\theta L = \\sum_i");
    frames.frame();
    expect(el.querySelector("math")).toBeNull();
    expect(el.textContent).toContain("$\\nabla_\\theta L = \\sum_i");
    view.append(" x_i$ is");
    frames.frame();
    expect(el.querySelectorAll("math")).toHaveLength(1);
    expect(el.textContent).not.toContain("$");
  });

  it("keeps a closed block's formulas as they are while later text streams", () => {
    const { frames, el, view } = stream();
    view.append("$$\nE = mc^2\n$$\n\nThen $a");
    frames.frame();
    const first = el.querySelector("math");
    expect(first?.getAttribute("display")).toBe("block");
    view.append("+b$ and more");
    frames.frame();
    expect(el.querySelector("math")).toBe(first);
    expect(el.querySelectorAll("math")).toHaveLength(2);
  });

  it("shows a bad formula as its source with the renderer's message on hover", () => {
    const el = document.createElement("div");
    el.append(renderMarkdown("see $\\frac{a$ here", true));
    const error = el.querySelector("code.ling-math-error") as HTMLElement;
    expect(error.textContent).toBe("$\\frac{a$");
    expect(error.title).toMatch(/\S/);
  });

  it("bounds hostile formulas: too long, huge lengths, expansion", () => {
    const el = document.createElement("div");
    const long = `$${"x+".repeat(MAX_TEX_CHARS)}x$`;
    el.append(renderMarkdown(`${long}\n\n$\\rule{100000em}{100000em}$ and $\\hspace{1000000pt}$\n\n` +
      `$${"\\sqrt{".repeat(300)}x${"}".repeat(300)}$`, true));
    expect(el.querySelector("code.ling-math-error")?.getAttribute("title")).toMatch(/too long/);
    for (const node of el.querySelectorAll("[width], [height], [depth]")) {
      for (const name of ["width", "height", "depth"]) {
        const value = node.getAttribute(name);
        if (value) expect(Number.parseFloat(value)).toBeLessThanOrEqual(200);
      }
    }
  });
});

describe("untrusted TeX in the live view", () => {
  // The alphabet of tests/test_formulas.py's hypothesis test, drawn by a seeded generator.
  const PIECES = [..."\\{}[]()$^_&<>\"'=:;/ #%~`*|", "javascript:", "href", "url", "style", "class", "htmlClass",
    "text", "onerror", "<script>", "color", "mathrm", "begin{matrix}", "end{matrix}", "frac", "x", "1", "\n", "&lt;",
    "&#x3C;", "data:", "mtext", "<math>", "</math>"];
  const DELIMITERS = [["$", "$"], ["$$", "$$"], ["\\(", "\\)"], ["\\[", "\\]"], ["$$\n", "\n$$"]];

  it("gets no script, link, style or class into the page from any TeX", () => {
    let seed = 21;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const tex = Array.from({ length: next(40) }, () => PIECES[next(PIECES.length)]).join("");
      const [open, close] = DELIMITERS[next(DELIMITERS.length)];
      const el = document.createElement("div");
      el.append(renderMarkdown(`A ${open}${tex}${close} b\n\n${open}${tex}${close}\n`, true));
      expect(dangers(el), tex).toEqual([]);
      expect(el.querySelector("a"), tex).toBeNull();
    }
  });
});
