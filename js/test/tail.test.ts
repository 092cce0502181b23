import { describe, expect, it } from "vitest";
import { completeMarkdown, markdownToHtml } from "../markdown";
import { MarkdownView } from "../renderer";
import { ManualFrames } from "./frames";
import SHARED from "./tail-cases.json";

/** Shared with tests/test_tail.py: the static copy (tail.py) must complete the same texts the same way. */
const CASES = SHARED as Array<[string, string]>;

/** Markers only as markup outside code, and markers of every kind inside code spans and fences. */
const MARKED = `# A **short** reply

Some **bold text**, some *italic words*, a _second italic_ and ~~struck out~~ text, and
***both at once*** with \`inline **code** and *stars*\` and \`\`double \` ticks\`\`.

- a list item with **bold *and italic* inside**
- \`snake_case_name\` and **\`code in bold\`**

> a quote with *emphasis* that goes on
> over **two lines**

\`\`\`python
x = 2 ** 8  # *not* emphasis, ~~nor~~ this
\`\`\`

| name | what |
| --- | --- |
| \`a_b\` | **strong** cell |

1. first *one*
2. second

The end, **really**.
`;

function render(src: string, complete: boolean): Document {
  return new DOMParser().parseFromString(markdownToHtml(src, false, 0, complete), "text/html");
}

function textOutsideCode(doc: Document): string {
  for (const code of doc.querySelectorAll("code")) code.remove();
  return doc.body.textContent ?? "";
}

describe("completing the markers a cut block leaves open", () => {
  it.each(CASES)("%j -> %j", (src, expected) => {
    expect(completeMarkdown(src)).toBe(expected);
  });

  it("at every cut point of a reply: only appends closers or holds back a trailing run, never shows a raw marker, never touches code", () => {
    const full = render(MARKED, false);
    const codes = [...full.querySelectorAll("code")].map((c) => c.textContent ?? "");
    expect(textOutsideCode(render(MARKED, false))).not.toMatch(/[*_~`]/);
    for (let cut = 1; cut <= MARKED.length; cut++) {
      const prefix = MARKED.slice(0, cut);
      const completed = completeMarkdown(prefix);
      let same = 0;
      while (same < prefix.length && prefix[same] === completed[same]) same++;
      expect(prefix.slice(same), JSON.stringify(prefix)).toMatch(/^[\s*_~`]*$/);
      expect(completed.slice(same), JSON.stringify(prefix)).toMatch(/^[\s*_~`]*$/);

      // Code is what it is without completing, or a code span closed early (a prefix of the real one).
      const asIs = [...render(prefix, false).querySelectorAll("code")].map((c) => c.textContent ?? "");
      const doc = render(prefix, true);
      for (const code of doc.querySelectorAll("code")) {
        const text = code.textContent ?? "";
        const known = asIs.includes(text) || codes.some((c) => c.startsWith(text));
        expect(known, `${JSON.stringify(prefix)}: code ${JSON.stringify(text)}`).toBe(true);
      }
      expect(textOutsideCode(doc), JSON.stringify(prefix)).not.toMatch(/\*\*|~~|(^|\s)[*_](\s|$)/);
    }
  });

  it("inside an open fence, the block is left as it is", () => {
    for (const src of ["```\n**a", "~~~md\n*b\n", "- x\n\n  ```\n  `c"]) expect(completeMarkdown(src)).toBe(src);
  });
});

describe("MarkdownView completes the open block, and the last block of a reply cut short", () => {
  function view(text: string) {
    const frames = new ManualFrames();
    const el = document.createElement("div");
    const md = new MarkdownView(el, { schedule: frames.schedule });
    md.append(text);
    frames.frame();
    return { el, md, frames };
  }

  it("while streaming", () => {
    const { el } = view("Para\n\nNow **bold te");
    expect(el.innerHTML).toContain("<strong>bold te</strong>");
    expect(el.textContent).not.toContain("**");
  });

  it("after a stop or a max-tokens cut, but not after a reply that ended on its own", () => {
    const cut = view("Ends **mid-wor");
    cut.md.setFinal(true, true);
    cut.md.flush();
    expect(cut.el.innerHTML).toContain("<strong>mid-wor</strong>");

    const done = view("Ends with a literal **");
    done.md.setFinal(true, false);
    done.md.flush();
    expect(done.el.textContent).toContain("literal **");
  });
});
