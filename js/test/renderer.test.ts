import { describe, expect, it, vi } from "vitest";
import hljs from "highlight.js/lib/core";
import { MAX_HIGHLIGHT_CHARS } from "../highlight";
import { CHUNK_BLOCKS, MarkdownView, type MarkdownViewOptions } from "../renderer";
import { CHAT_REPLY, longReply, randomPieces } from "./corpus";
import { ManualFrames } from "./frames";

/** Counts the Markdown that gets rendered, and parsed to find blocks: the work an update costs. */
const rendered = vi.hoisted(() => ({ chars: 0, parsed: 0 }));
vi.mock("../markdown", async (importOriginal) => {
  const real = await importOriginal<typeof import("../markdown")>();
  return {
    ...real,
    renderMarkdown(src: string, highlight: boolean, codeBefore?: number, complete?: boolean) {
      rendered.chars += src.length;
      return real.renderMarkdown(src, highlight, codeBefore, complete);
    },
    parseBlocks(src: string) {
      rendered.parsed += src.length;
      return real.parseBlocks(src);
    },
  };
});

function setup(options: MarkdownViewOptions = {}) {
  const frames = new ManualFrames();
  const el = document.createElement("div");
  const view = new MarkdownView(el, { schedule: frames.schedule, ...options });
  return { frames, el, view, blocks: () => [...el.querySelectorAll(".ling-block")] as HTMLElement[] };
}

/** Records every change to `el`'s subtree. */
function watch(el: HTMLElement) {
  const observer = new MutationObserver(() => undefined);
  observer.observe(el, { childList: true, subtree: true, characterData: true, attributes: true });
  return observer;
}

describe("MarkdownView", () => {
  it("renders at most once per frame, however many pieces arrive", () => {
    const { frames, el, view } = setup();
    for (const piece of ["Hel", "lo ", "**wor", "ld**"]) view.append(piece);
    expect(frames.waiting).toBe(1);
    expect(el.children).toHaveLength(0);
    frames.frame();
    expect(el.innerHTML).toContain("<strong>world</strong>");
    expect(frames.waiting).toBe(0);
  });

  it("never touches a finished block again; only the open block's node is replaced", () => {
    const { frames, view, blocks } = setup();
    view.append("Para one\n\nPara two");
    frames.frame();
    const [first, open] = blocks();
    expect(first.textContent?.trim()).toBe("Para one");
    expect(open.classList.contains("ling-open")).toBe(true);

    view.append(" continues\n\nPara three");
    frames.frame();
    const after = blocks();
    expect(after).toHaveLength(3);
    expect(after[0]).toBe(first);
    expect(after[1]).not.toBe(open);
    expect(after[1].textContent?.trim()).toBe("Para two continues");
    expect(after[1].classList.contains("ling-open")).toBe(false);

    view.append(" and more");
    frames.frame();
    const last = blocks();
    expect(last[0]).toBe(after[0]);
    expect(last[1]).toBe(after[1]);
    expect(last[2]).not.toBe(after[2]);
    expect(last[2].textContent?.trim()).toBe("Para three and more");
  });

  it("streams a whole reply without changing any finished block", () => {
    const { frames, el, view } = setup();
    const observer = watch(el);
    const finished = new Set<Node>();
    for (const piece of randomPieces(CHAT_REPLY, 3, 25)) {
      view.append(piece);
      frames.frame();
      for (const record of observer.takeRecords()) {
        // Only child lists of the container and its chunks change: blocks are swapped whole,
        // never edited.
        expect(record.type).toBe("childList");
        expect(record.target === el || (record.target as HTMLElement).classList.contains("ling-chunk")).toBe(true);
        for (const removed of record.removedNodes) {
          expect(finished.has(removed)).toBe(false);
          expect((removed as HTMLElement).classList.contains("ling-open")).toBe(true);
        }
      }
      for (const block of el.querySelectorAll(".ling-block:not(.ling-open)")) finished.add(block);
    }
    observer.disconnect();
    expect(finished.size).toBeGreaterThan(10);
  });

  it("groups blocks into chunks, and leaves finished chunks alone", () => {
    const { el, view, blocks } = setup();
    view.append(Array.from({ length: 40 }, (_, i) => `Paragraph ${i}.`).join("\n\n"));
    view.flush();
    expect(blocks()).toHaveLength(40);
    const chunks = [...el.children];
    expect(chunks.map((c) => c.className)).toEqual(["ling-chunk", "ling-chunk"]);
    expect(chunks[0].children).toHaveLength(CHUNK_BLOCKS);
    const observer = watch(el);
    view.append(" More.\n\n".concat(Array.from({ length: 40 }, (_, i) => `Later ${i}.`).join("\n\n")));
    view.flush();
    expect(observer.takeRecords().some((r) => r.target === chunks[0] || chunks[0].contains(r.target))).toBe(false);
    expect(el.children).toHaveLength(3);
    expect(el.children[0]).toBe(chunks[0]);
  });

  it("ends with the same DOM whether the text streamed in pieces or came at once", () => {
    const streamed = setup();
    for (const piece of randomPieces(CHAT_REPLY, 11, 60)) {
      streamed.view.append(piece);
      streamed.frames.frame();
    }
    streamed.view.setFinal(true);
    streamed.frames.drain();
    const oneShot = setup();
    oneShot.view.setText(CHAT_REPLY);
    oneShot.view.setFinal(true);
    oneShot.frames.drain();
    expect(streamed.el.innerHTML).toBe(oneShot.el.innerHTML);
    expect(streamed.el.querySelector(".ling-open")).toBeNull();
  });

  it("shows the open code block plain and highlights it once closed", () => {
    const { frames, el, view } = setup();
    view.append("```python\ndef f():\n");
    frames.frame();
    expect(el.querySelector(".ling-open pre code")?.textContent).toBe("def f():\n");
    expect(el.querySelector(".hljs-keyword")).toBeNull();
    view.append("    return 1\n```\n");
    frames.frame();
    expect(el.querySelector(".ling-open")).toBeNull();
    expect(el.querySelector(".ling-block pre code .hljs-keyword")?.textContent).toBe("def");
  });

  it("renders the last block as finished once final, also an unclosed code block", () => {
    const { frames, el, view } = setup();
    view.append("Text\n\n```python\nimport os");
    frames.frame();
    expect(el.querySelector(".hljs-keyword")).toBeNull();
    view.setFinal(true);
    frames.frame();
    expect(el.querySelector(".ling-open")).toBeNull();
    expect(el.querySelector(".hljs-keyword")?.textContent).toBe("import");
  });

  it("appends when new text extends the old, and starts over when it does not", () => {
    const { frames, view, blocks } = setup();
    view.setText("One\n\nTwo");
    frames.frame();
    const first = blocks()[0];
    view.setText("One\n\nTwo\n\nThree");
    frames.frame();
    expect(blocks()[0]).toBe(first);
    expect(blocks().map((b) => b.textContent?.trim())).toEqual(["One", "Two", "Three"]);
    view.setText("Other\n\nText");
    frames.frame();
    expect(blocks()[0]).not.toBe(first);
    expect(blocks().map((b) => b.textContent?.trim())).toEqual(["Other", "Text"]);
    expect(view.text).toBe("Other\n\nText");
  });

  it("spreads a large text over several frames within its budget, and finishes it", () => {
    let clock = 0;
    const sliced = setup({ now: () => (clock += 1), budgetMs: 10, sliceChars: 2000 });
    const text = longReply(40_000);
    sliced.view.setText(text);
    sliced.frames.frame();
    // Frame one gets through part of the text only; what it rendered is already in place.
    expect(sliced.view.pending).toBe(true);
    const firstBlock = sliced.blocks()[0];
    expect(firstBlock).toBeDefined();
    expect(sliced.frames.drain()).toBeGreaterThan(3);
    expect(sliced.blocks()[0]).toBe(firstBlock);

    const whole = setup();
    whole.view.setText(text);
    whole.view.flush();
    expect(sliced.el.innerHTML).toBe(whole.el.innerHTML);
  });

  it("keeps the work per update small however long the reply grows", () => {
    const { frames, el, view } = setup({ limits: { maxLines: 50, maxChars: 2000 } });
    const observer = watch(el);
    const text = longReply(60_000);
    const work: number[] = [];
    let maxSwaps = 0;
    for (const piece of randomPieces(text, 5, 300)) {
      view.append(piece);
      rendered.chars = 0;
      frames.frame();
      work.push(rendered.chars);
      const removed = observer.takeRecords().reduce((n, r) => n + r.removedNodes.length, 0);
      maxSwaps = Math.max(maxSwaps, removed);
    }
    observer.disconnect();
    expect(work.length).toBeGreaterThan(300);
    // A frame renders the blocks that just closed plus the open one, each bounded by the
    // limits (plus a line), never the 60 kB received so far.
    expect(Math.max(...work)).toBeLessThan(2 * (2000 + 600) + 300);
    const half = work.length >> 1;
    expect(Math.max(...work.slice(half))).toBeLessThan(2 * Math.max(...work.slice(0, half)));
    // Each frame replaces at most the one open block.
    expect(maxSwaps).toBeLessThanOrEqual(1);
  });

  it("keeps the work per update small while a long code block in a list item streams", () => {
    const { frames, el, view } = setup({ limits: { maxLines: 50, maxChars: 2000 } });
    const code = Array.from({ length: 3000 }, (_, i) => `   rows.append(row_${i})  # keep row ${i}`);
    const text = `1. Collect the rows:\n   \`\`\`python\n${code.join("\n")}\n   \`\`\`\n2. Done.\n`;
    let maxRendered = 0;
    let maxParsed = 0;
    for (const piece of randomPieces(text, 8, 200)) {
      view.append(piece);
      rendered.chars = 0;
      rendered.parsed = 0;
      frames.frame();
      maxRendered = Math.max(maxRendered, rendered.chars);
      maxParsed = Math.max(maxParsed, rendered.parsed);
    }
    // Each frame parses and renders the open block (bounded by the limits plus a piece) and the
    // blocks just cut from it, never the 130 kB of code received so far.
    expect(maxRendered).toBeLessThan(2 * (2000 + 200) + 200);
    expect(maxParsed).toBeLessThan(3 * (2000 + 200));
    view.setFinal(true);
    view.flush();
    const shown = [...el.querySelectorAll("ol > li > pre > code")].map((c) => c.textContent).join("");
    expect(shown).toBe(code.map((line) => `${line.slice(3)}\n`).join(""));
    expect(el.querySelectorAll(".ling-reopened").length).toBeGreaterThan(10);
  });

  it("marks blocks that continue a cut-off list or code block", () => {
    const { el, view } = setup({ limits: { maxLines: 5, maxChars: 10_000 } });
    view.setText(`\`\`\`js\n${"x++;\n".repeat(12)}\`\`\`\n`);
    view.setFinal(true);
    view.flush();
    const parts = [...el.querySelectorAll(".ling-block")];
    expect(parts.length).toBeGreaterThan(2);
    expect(parts[0].classList.contains("ling-cont")).toBe(false);
    expect(parts.slice(1).every((p) => p.classList.contains("ling-cont"))).toBe(true);
    expect(el.querySelectorAll("pre")).toHaveLength(parts.length);
    expect([...el.querySelectorAll("pre")].map((p) => p.textContent).join("")).toBe("x++;\n".repeat(12));
  });

  it("highlights a code block cut into parts in its first 64 kB only, and the next code block again", () => {
    const { frames, el, view } = setup();
    const code = Array.from({ length: 3000 }, (_, i) => `    total_${i} = total + compute(${i})\n`).join("");
    const text = `- The loop:\n\n  \`\`\`python\n${code.replace(/^/gm, "  ")}  \`\`\`\n\n\`\`\`python\nimport os\n\`\`\`\n`;
    for (const piece of randomPieces(text, 4, 4000)) {
      view.append(piece);
      frames.frame();
    }
    view.setFinal(true);
    frames.drain();
    const pres = [...el.querySelectorAll("pre")];
    expect(pres.length).toBeGreaterThan(6);
    expect(pres.map((p) => p.textContent).join("")).toBe(`${code}import os\n`);
    const highlighted = pres.filter((p) => p.querySelector("[class^=hljs-]"));
    // The first parts are highlighted, as a 64 kB block would be; the rest of the 110 kB is plain.
    expect(highlighted[0]).toBe(pres[0]);
    const chars = highlighted.slice(0, -1).reduce((n, p) => n + (p.textContent?.length ?? 0), 0);
    expect(chars).toBeGreaterThan(MAX_HIGHLIGHT_CHARS / 2);
    expect(chars).toBeLessThanOrEqual(MAX_HIGHLIGHT_CHARS);
    expect(pres[pres.length - 2].querySelector("[class^=hljs-]")).toBeNull();
    expect(highlighted[highlighted.length - 1]).toBe(pres[pres.length - 1]);
    expect(pres[pres.length - 1].querySelector(".hljs-keyword")?.textContent).toBe("import");
  });

  it("compiles a language's grammar in a task of its own while its code block is still open", async () => {
    // hljs marks a compiled grammar; no other test in this file uses SQL.
    const compiled = () => Boolean((hljs.getLanguage("sql") as { isCompiled?: boolean }).isCompiled);
    const { frames, el, view } = setup();
    view.append("```sql\nselect 1\n");
    frames.frame();
    expect(el.querySelector(".ling-open pre code")?.textContent).toBe("select 1\n");
    expect(compiled()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(compiled()).toBe(true);
  });

  it("marks only the last block as the tail of the reply, without touching finished blocks", () => {
    const { frames, el, view, blocks } = setup();
    for (const piece of randomPieces(CHAT_REPLY, 5, 40)) {
      view.append(piece);
      frames.frame();
      const tails = [...el.querySelectorAll(".ling-tail")];
      expect(tails.length).toBeLessThanOrEqual(1);
      if (tails.length) expect(tails[0]).toBe(blocks()[blocks().length - 1]);
    }
    view.setFinal(true);
    frames.drain();
    expect([...el.querySelectorAll(".ling-tail")]).toEqual([blocks()[blocks().length - 1]]);
  });

  it("does nothing after dispose", () => {
    const { frames, el, view } = setup();
    view.append("text");
    view.dispose();
    expect(frames.waiting).toBe(0);
    view.append("more");
    view.flush();
    expect(el.children).toHaveLength(0);
  });
});
