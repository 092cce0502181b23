import { describe, expect, it } from "vitest";
import { type Block, BlockSplitter, type SplitterLimits } from "../blocks";
import { markdownToHtml } from "../markdown";
import { CHAT_REPLY, EDGE_CASES, fencedDocument, longReply, randomPieces, seededRandom } from "./corpus";

/** All blocks of `pieces` fed in order: the closed ones, then the open one if it is not empty. */
function split(pieces: string[] | string, limits?: Partial<SplitterLimits>): Block[] {
  const splitter = new BlockSplitter(limits);
  const blocks: Block[] = [];
  for (const piece of typeof pieces === "string" ? [pieces] : pieces) blocks.push(...splitter.append(piece));
  const open = splitter.open();
  if (open.text.trim()) blocks.push(open);
  return blocks;
}

const texts = (blocks: Block[]) => blocks.map((b) => b.text.replace(/\n+$/, ""));

describe("BlockSplitter", () => {
  it("cuts paragraphs at blank lines", () => {
    expect(texts(split("one\nstill one\n\n\ntwo\n\nthree"))).toEqual(["one\nstill one", "two", "three"]);
  });

  it("keeps a fenced code block whole, blank lines included, until its closing fence", () => {
    const text = "```python\na = 1\n\n\nb = 2\n```\nafter";
    expect(texts(split(text))).toEqual(["```python\na = 1\n\n\nb = 2\n```", "after"]);
  });

  it("closes a fence only with the same character and at least the same length", () => {
    const text = "````\n```\n~~~~\n````\n\nnext";
    expect(texts(split(text))).toEqual(["````\n```\n~~~~\n````", "next"]);
    expect(texts(split("~~~\na\n\n```\n~~~~\n\nx"))).toEqual(["~~~\na\n\n```\n~~~~", "x"]);
  });

  it("treats a backtick line with backticks after it as inline code, not a fence", () => {
    expect(texts(split("```inline``` text\n\nnext"))).toEqual(["```inline``` text", "next"]);
  });

  it("starts a new block where a fence or a heading interrupts a paragraph", () => {
    expect(texts(split("Run this:\n```bash\nls\n```\nDone."))).toEqual(["Run this:", "```bash\nls\n```", "Done."]);
    expect(texts(split("# Title\nIntro text\n## Sub\nmore"))).toEqual(["# Title", "Intro text", "## Sub", "more"]);
  });

  it("does not take #hashtag or #### without a space for a heading", () => {
    expect(texts(split("#hashtag\nline"))).toEqual(["#hashtag\nline"]);
  });

  it("keeps a loose list, its indented continuations and nested code together", () => {
    const list = "1. one\n\n   more about one\n\n2. two\n   ```py\n   x = 1\n\n   y = 2\n   ```\n\n3. three";
    expect(texts(split(`${list}\n\nAfter the list.\n`))).toEqual([list, "After the list."]);
  });

  it("ends a list at a blank line followed by unindented text, and a fence at column 0", () => {
    expect(texts(split("- a\n- b\n\nParagraph\n"))).toEqual(["- a\n- b", "Paragraph"]);
    expect(texts(split("1. step\n```\ncode\n```"))).toEqual(["1. step", "```\ncode\n```"]);
  });

  it("keeps a table in one block and cuts it at a blank line", () => {
    const table = "| a | b |\n|---|:-:|\n| 1 | 2 |\n| 3 | 4 |";
    // A table interrupts a paragraph (markdown-it's rule, as GitHub's).
    expect(texts(split(`Intro:\n${table}\n\nAfter`))).toEqual(["Intro:", table, "After"]);
  });

  it("keeps indented code with blank lines together", () => {
    expect(texts(split("Para\n\n    code 1\n\n    code 2\n\nNext\n"))).toEqual(["Para", "    code 1\n\n    code 2", "Next"]);
  });

  it("keeps a setext heading with its text", () => {
    expect(texts(split("Title\n=====\n\nText\n---\n\nx"))).toEqual(["Title\n=====", "Text\n---", "x"]);
  });

  it("handles CRLF line endings, also when CR and LF arrive in different pieces", () => {
    expect(texts(split(["a\r", "\n\r", "\nb\r\n"]))).toEqual(["a", "b"]);
  });

  it("reports the open block with its unfinished last line", () => {
    const s = new BlockSplitter();
    expect(s.append("Hello wor")).toEqual([]);
    expect(s.open().text).toBe("Hello wor");
    expect(s.append("ld\n\n```py\nx = ")).toEqual([{ text: "Hello world\n", cont: false, reopened: false, code: 0 }]);
    expect(s.open().text).toBe("```py\nx = ");
    expect(s.append("1\n")).toEqual([]);
    expect(s.open().text).toBe("```py\nx = 1\n");
    expect(texts(s.append("```\n"))).toEqual(["```py\nx = 1\n```"]);
    expect(s.open().text).toBe("");
  });

  it.each([
    ["chat reply", CHAT_REPLY],
    ["edge cases", EDGE_CASES],
    ["long reply", longReply(60_000)],
  ])("gives the same blocks for any chunking of the %s", (_name, text) => {
    const oneShot = split(text);
    for (let seed = 1; seed <= 12; seed++) {
      expect(split(randomPieces(text, seed, seed * 7))).toEqual(oneShot);
    }
    expect(split([...text])).toEqual(oneShot);
  });

  it.each([
    ["chat reply", CHAT_REPLY],
    ["edge cases", EDGE_CASES],
  ])("renders the %s block by block exactly as in one piece", (_name, text) => {
    const whole = markdownToHtml(text, true);
    const byBlock = split(text).map((b) => markdownToHtml(b.text, true)).join("");
    expect(byBlock).toBe(whole);
  });

  it("renders random documents block by block exactly as in one piece", () => {
    // Link reference definitions are left out: they only apply within their own block.
    const snippets = [
      "A paragraph line.", "Another *line* with `code`.", "# Heading", "## Sub heading", "```py\nx = 1\n\ny = 2\n```",
      "~~~\nraw\n~~~", "- item", "- item\n  continued", "1. first", "2. second", "   indented text",
      "      deep indented", "| a | b |\n|---|---|\n| 1 | 2 |", "| 3 | 4 |", "> quote", "> quote\n> more", "---",
      "***", "    code line", "Title\n=====", "  ```js\n  let a;\n\n  ```", "+ plus item", "* star item", "10) ten",
      "", "1. first\n\n   para in item", "- a\n\n      code in item", "> ```\n> x\n>\n> ```", "  - nested item",
      "\t- tab item", "Text\n---", "   ```\n   y\n\n   ```", "````\n```\n\n````", "- ```\n  in item\n\n  ```",
      "1.  wide item\n\n    wide para", "-", "1.", "#", "> - quoted item\n>\n>   more", "| x |\n| - |",
      "a | b\n--|--\n1 | 2", "<div>\n\nhtml</div>", "\\# not heading",
    ];
    for (let seed = 1; seed <= 3000; seed++) {
      const next = seededRandom(seed);
      const parts: string[] = [];
      const n = 2 + Math.floor(next() * 14);
      for (let i = 0; i < n; i++) {
        parts.push(snippets[Math.floor(next() * snippets.length)] + (next() < 0.5 ? "\n" : "\n\n"));
      }
      const text = parts.join("");
      const byBlock = split(text).map((b) => markdownToHtml(b.text, false)).join("");
      expect(byBlock, JSON.stringify(text)).toBe(markdownToHtml(text, false));
    }
  });

  it("cuts many blocks from a typical reply, so little is re-rendered while it streams", () => {
    expect(split(CHAT_REPLY).length).toBeGreaterThanOrEqual(15);
  });
});

describe("BlockSplitter limits", () => {
  const limits = { maxLines: 10, maxChars: 400 };

  function maxOpenDuringStream(text: string): number {
    const s = new BlockSplitter(limits);
    let max = 0;
    for (const piece of randomPieces(text, 7, 30)) {
      s.append(piece);
      max = Math.max(max, s.open().text.length);
    }
    return max;
  }

  it("cuts a long tight list at item starts, marking the continuations", () => {
    const items = Array.from({ length: 35 }, (_, i) => `- item ${i}\n  more ${i}`);
    const blocks = split(`${items.join("\n")}\n`, limits);
    expect(blocks.length).toBeGreaterThan(3);
    expect(blocks[0].cont).toBe(false);
    for (const b of blocks.slice(1)) {
      expect(b.cont).toBe(true);
      expect(b.text.startsWith("- item ")).toBe(true);
    }
    expect(texts(blocks).join("\n")).toBe(items.join("\n"));
  });

  it("cuts a long code block into fenced parts that each render as code", () => {
    const lines = Array.from({ length: 45 }, (_, i) => `print(${i})`);
    const blocks = split(`\`\`\`python\n${lines.join("\n")}\n\`\`\`\n`, limits);
    expect(blocks.length).toBeGreaterThan(3);
    const code: string[] = [];
    for (const text of texts(blocks)) {
      expect(text.startsWith("```python\n")).toBe(true);
      expect(text.endsWith("\n```")).toBe(true);
      code.push(...text.split("\n").slice(1, -1));
    }
    expect(code).toEqual(lines);
    expect(blocks.slice(1).every((b) => b.cont)).toBe(true);
  });

  it("tells each part of a cut code block how much of its code came before, also in a list item", () => {
    const lines = Array.from({ length: 45 }, (_, i) => `print(${i})`);
    for (const [open, indent, close] of [["```python", "", "```"], ["- Run:\n\n  ```python", "  ", "  ```"]]) {
      const code = lines.map((l) => `${indent}${l}\n`).join("");
      const blocks = split(randomPieces(`${open}\n${code}${close}\n\nAfter.\n`, 3, 20), limits);
      const parts = blocks.slice(0, -1);
      expect(parts.length).toBeGreaterThan(3);
      let before = 0;
      for (const part of parts) {
        expect(part.code).toBe(before);
        // The code lines of this part: those between its (re-)opening fence and its closing one
        // (a list item may first be cut before its fence).
        const body = part.text.split("\n");
        const fence = body.findIndex((l) => l.trim() === "```python");
        const closer = body.map((l) => l.trim()).lastIndexOf("```");
        if (fence >= 0) before += body.slice(fence + 1, closer).join("\n").length + 1;
      }
      expect(before).toBe(code.length);
      expect(blocks[blocks.length - 1]).toEqual({ text: "After.\n", cont: false, reopened: false, code: 0 });
    }
  });

  it("counts code anew for each code block, and not for a cut list", () => {
    const fence = (n: number) => `\`\`\`\n${"x = 1\n".repeat(n)}\`\`\`\n\n`;
    const items = Array.from({ length: 35 }, (_, i) => `- item ${i}`).join("\n");
    const blocks = split(`${fence(45)}${fence(45)}${items}\n`, limits);
    const starts = blocks.filter((b) => !b.cont);
    expect(starts.map((b) => b.code)).toEqual([0, 0, 0]);
    expect(blocks.filter((b) => b.text.startsWith("- item")).every((b) => b.code === 0)).toBe(true);
  });

  it("cuts a long table and repeats its header in each part", () => {
    const rows = Array.from({ length: 30 }, (_, i) => `| ${i} | ${i * 2} |`);
    const blocks = split(`| n | 2n |\n|---|---|\n${rows.join("\n")}\n`, limits);
    expect(blocks.length).toBeGreaterThan(3);
    for (const b of blocks) {
      expect(b.text.startsWith("| n | 2n |\n|---|---|\n")).toBe(true);
      expect(markdownToHtml(b.text, false)).toContain("<table>");
    }
    expect(texts(blocks).flatMap((t) => t.split("\n").slice(2))).toEqual(rows);
  });

  it("cuts a loose list that keeps growing", () => {
    const items = Array.from({ length: 40 }, (_, i) => `${i + 1}. step ${i}`);
    const blocks = split(items.join("\n\n"), limits);
    expect(blocks.length).toBeGreaterThan(3);
    // A continued ordered list keeps its numbering.
    expect(markdownToHtml(blocks[1].text, false)).toMatch(/<ol start="\d+">/);
  });

  it("keeps the open block small however long the reply grows", () => {
    const text = longReply(40_000);
    // A cut happens before a line that would pass the limits, so the open block is bounded by
    // the limit plus one line (the longest line here is ~500 characters).
    expect(maxOpenDuringStream(text)).toBeLessThan(limits.maxChars + 600);
    const huge = `${"- x\n".repeat(5000)}\`\`\`\n${"code\n".repeat(5000)}\`\`\`\n${"word ".repeat(20)}\n`.repeat(2);
    expect(maxOpenDuringStream(huge)).toBeLessThan(limits.maxChars + 200);
  });
});

describe("BlockSplitter fences (issue 11)", () => {
  /** Renders the stream as the view does at every step: closed blocks, then the open one. */
  function streamedHtml(pieces: string[], limits?: Partial<SplitterLimits>): { html: string; whole: string }[] {
    const s = new BlockSplitter(limits);
    let closed = "";
    let text = "";
    const steps: { html: string; whole: string }[] = [];
    for (const piece of pieces) {
      text += piece;
      for (const b of s.append(piece)) closed += markdownToHtml(b.text, false);
      steps.push({ html: closed + markdownToHtml(s.open().text, false), whole: markdownToHtml(text, false) });
    }
    return steps;
  }

  it("does not close a code block at a fence indented four spaces (a docstring's example)", () => {
    const reply = [
      "Here is the function:", "", "```python", "def area(r):", '    """Area of a circle.', "", "    Example:", "",
      "    ```", "    >>> area(1)", "    3.14159", "    ```", '    """', "    return 3.14159 * r * r", "```", "",
      "It returns a float.", "",
    ].join("\n");
    const blocks = split(randomPieces(reply, 3, 12));
    expect(texts(blocks)).toEqual([
      "Here is the function:", reply.split("\n").slice(2, 15).join("\n"), "It returns a float.",
    ]);
    // While it streams, the view always shows what the whole text so far renders to.
    for (const step of streamedHtml(randomPieces(reply, 5, 9))) expect(step.html).toBe(step.whole);
  });

  it("caps a long code block inside a list item, so each update parses and renders a bounded amount", () => {
    const limits = { maxLines: 20, maxChars: 800 };
    const code = Array.from({ length: 400 }, (_, i) => `   total += values[${i}]  # step ${i}`);
    const reply = `1. Sum them:\n   \`\`\`python\n${code.join("\n")}\n   \`\`\`\n2. Print the total.\n`;
    const s = new BlockSplitter(limits);
    const blocks: Block[] = [];
    let maxOpen = 0;
    for (const piece of randomPieces(reply, 11, 30)) {
      blocks.push(...s.append(piece));
      maxOpen = Math.max(maxOpen, s.open().text.length);
    }
    blocks.push(s.open());
    expect(maxOpen).toBeLessThan(limits.maxChars + 100);
    expect(Math.max(...blocks.map((b) => b.text.length))).toBeLessThan(limits.maxChars + 100);
    // Every part is code inside the list item, continued with the item re-opened; the code reads
    // the same as in one piece.
    const shown: string[] = [];
    for (const [i, b] of blocks.entries()) {
      const doc = new DOMParser().parseFromString(markdownToHtml(b.text, false), "text/html");
      const pre = doc.querySelector("ol > li > pre > code.language-python");
      expect(pre, b.text).not.toBeNull();
      shown.push(...(pre?.textContent ?? "").split("\n").filter(Boolean));
      expect(b.cont).toBe(i > 0);
      expect(b.reopened).toBe(i > 0);
    }
    expect(shown).toEqual(code.map((line) => line.slice(3)));
    expect(blocks.length).toBeGreaterThan(400 / limits.maxLines);
    expect(blocks.at(-1)?.text.endsWith("   ```\n2. Print the total.\n")).toBe(true);
  });

  it("renders random documents with indented fences, fences in lists and quotes, CRLF and CR alike", () => {
    for (let seed = 1; seed <= 1500; seed++) {
      const text = fencedDocument(seed);
      const whole = markdownToHtml(text, false);
      const byBlock = split(randomPieces(text, seed, 1 + (seed % 23))).map((b) => markdownToHtml(b.text, false)).join("");
      expect(byBlock, JSON.stringify(text)).toBe(whole);
    }
  });

  it("keeps every block of such documents within the limits, plus a bounded amount", () => {
    const limits = { maxLines: 8, maxChars: 300 };
    for (let seed = 1; seed <= 300; seed++) {
      const text = fencedDocument(seed, true);
      const s = new BlockSplitter(limits);
      const longest = Math.max(...text.split(/\r\n|\r|\n/).map((line) => line.length));
      // A block is cut before the line that passes a limit; a continuation starts with the lines
      // that re-open its list items and quotes (a few short lines), and a piece adds up to 40.
      const bound = limits.maxChars + longest + 120;
      for (const piece of randomPieces(text, seed, 40)) {
        for (const b of s.append(piece)) expect(b.text.length, JSON.stringify(text)).toBeLessThan(bound);
        expect(s.open().text.length, JSON.stringify(text)).toBeLessThan(bound);
      }
    }
  });
});
