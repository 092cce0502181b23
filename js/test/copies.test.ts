import { afterEach, describe, expect, it, vi } from "vitest";
import { copiesIn, decorate, decorateCode, markdownOf } from "../copies";

/** A static copy as ling_notebook/render.py writes it: a header per reply, the text, a code block. */
function staticCopy(replies: number): HTMLElement {
  const copy = document.createElement("div");
  copy.className = "ling-static";
  const reply = (model: string) =>
    `<div class="ling-status"><span class="ling-model">${model}</span><span class="ling-sep"> · </span>` +
    `<span class="ling-state">done</span></div><div class="ling-body"><div class="ling-chunk"><p>Hi</p>` +
    `<pre><code><span class="ling-k">def</span> f(): pass\n</code></pre></div></div>`;
  copy.innerHTML = replies === 1
    ? reply("m")
    : `<div class="ling-compare">${Array.from({ length: replies }, (_, i) => `<div class="ling-column">${reply(`m${i}`)}</div>`).join("")}</div>`;
  document.body.append(copy);
  return copy;
}

function clipboard(): string[] {
  const copied: string[] = [];
  Object.defineProperty(navigator, "clipboard", {
    configurable: true,
    value: { writeText: async (text: string) => void copied.push(text) },
  });
  return copied;
}

/** A Blob's text (jsdom's Blob has no `text()`). */
function readText(blob: Blob): Promise<string> {
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.readAsText(blob);
  });
}

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("a static copy's controls", () => {
  it("puts Copy in the reply's header, after the status, and copies the reply's Markdown", async () => {
    const copied = clipboard();
    const copy = staticCopy(1);
    decorate(copy, ["# The **reply**"]);
    const header = copy.querySelector(".ling-status") as HTMLElement;
    expect([...header.children].map((c) => c.className)).toEqual(["ling-model", "ling-sep", "ling-state", "ling-actions"]);
    const button = header.querySelector("button.ling-copy") as HTMLButtonElement;
    expect(button.type).toBe("button");
    button.click();
    await vi.waitFor(() => expect(button.textContent).toBe("Copied"));
    expect(copied).toEqual(["# The **reply**"]);
  });

  it("copies a code block's code, without the line end that closes it", async () => {
    const copied = clipboard();
    const copy = staticCopy(1);
    decorate(copy, null);
    (copy.querySelector("pre .ling-code-copy") as HTMLButtonElement).click();
    await vi.waitFor(() => expect(copied).toEqual(["def f(): pass"]));
    expect(copy.querySelector(".ling-status .ling-copy")).toBeNull(); // no Markdown: no Copy of the reply
  });

  it("gives Copy to the code of a chunk put in place after the copy, once", async () => {
    const copied = clipboard();
    const copy = staticCopy(1);
    const later = copy.querySelector(".ling-chunk") as HTMLElement;
    later.remove(); // as copyview.ts holds a chunk back
    decorate(copy, ["text"]);
    expect(copy.querySelectorAll(".ling-code-copy")).toHaveLength(0);
    copy.querySelector(".ling-body")?.append(later);
    decorateCode(later);
    decorateCode(later);
    decorate(copy, ["text"]);
    expect(copy.querySelectorAll(".ling-code-copy")).toHaveLength(1);
    (copy.querySelector("pre .ling-code-copy") as HTMLButtonElement).click();
    await vi.waitFor(() => expect(copied).toEqual(["def f(): pass"]));
  });

  it("gives each column its own text, and none to a column without text", async () => {
    const copied = clipboard();
    const copy = staticCopy(3);
    decorate(copy, ["one", "", "three"]);
    const buttons = copy.querySelectorAll<HTMLButtonElement>(".ling-column > .ling-status .ling-copy");
    expect(buttons).toHaveLength(2);
    buttons[1].click();
    await vi.waitFor(() => expect(copied).toEqual(["three"]));
  });

  it("adds no Copy of a reply when the texts do not match the headers, and decorates a copy once", () => {
    const copy = staticCopy(2);
    decorate(copy, ["only one"]);
    expect(copy.querySelector(".ling-status .ling-copy")).toBeNull();
    decorate(copy, ["a", "b"]);
    expect(copy.querySelector(".ling-status .ling-copy")).toBeNull();
    expect(copy.querySelectorAll(".ling-code-copy")).toHaveLength(2);
  });

  it("says for a moment whether the copy worked", async () => {
    vi.useFakeTimers();
    Object.defineProperty(navigator, "clipboard", {
      configurable: true,
      value: { writeText: async () => Promise.reject(new Error("denied")) },
    });
    const copy = staticCopy(1);
    decorate(copy, ["text"]);
    const button = copy.querySelector(".ling-copy") as HTMLButtonElement;
    button.click();
    await vi.waitFor(() => expect(button.textContent).toBe("Copy failed"));
    vi.advanceTimersByTime(1500);
    expect(button.textContent).toBe("Copy");
  });

  it("reads the Markdown only from well-formed metadata", () => {
    expect(markdownOf({ "ling_notebook": { markdown: ["a", "b"] } })).toEqual(["a", "b"]);
    expect(markdownOf({ "ling_notebook": { markdown: ["a", { deflate: "eJw=" }] } })).toEqual(["a", { deflate: "eJw=" }]);
    for (const bad of [undefined, null, {}, { "ling_notebook": { markdown: "a" } }, { "ling_notebook": { markdown: [1] } },
      { "ling_notebook": { markdown: [{ deflate: 1 }] } }, { "ling_notebook": { markdown: [null] } }]) {
      expect(markdownOf(bad)).toBeNull();
    }
  });

  it("copies a long reply's Markdown, which the metadata holds compressed", async () => {
    const copied = clipboard();
    const copy = staticCopy(1);
    // render.py's copy_metadata for this text (its _deflated): zlib's format, in base64.
    const text = "# Long \u201creply\u201d \u{1F600}\n\n" + "word ".repeat(20);
    decorate(copy, [{ deflate: "eJxTVvDJz0tXeNQwpyi1IKfyUcNchQ/zZzRwcZXnF6Uo0JgAADZ0MCg=" }]);
    const button = copy.querySelector(".ling-status .ling-copy") as HTMLButtonElement;
    button.click();
    await vi.waitFor(() => expect(button.textContent).toBe("Copied"));
    expect(copied).toEqual([text]);
  });

  it("hands compressed Markdown to the clipboard as a promise, in the click, where ClipboardItem exists", async () => {
    const written: Promise<string>[] = [];
    vi.stubGlobal("ClipboardItem", class {
      constructor(readonly items: Record<string, Promise<Blob>>) {}
      getType(type: string) { return this.items[type]; }
    });
    Object.defineProperty(navigator, "clipboard", {
      configurable: true,
      value: { write: async (items: { getType(type: string): Promise<Blob> }[]) => {
        written.push(items[0].getType("text/plain").then(readText));
      } },
    });
    const copy = staticCopy(1);
    decorate(copy, [{ deflate: "eJxTVvDJz0tXeNQwpyi1IKfyUcNchQ/zZzRwcZXnF6Uo0JgAADZ0MCg=" }]);
    const button = copy.querySelector(".ling-status .ling-copy") as HTMLButtonElement;
    button.click();
    expect(written).toHaveLength(1); // the write began in the click, before the text was inflated
    await vi.waitFor(() => expect(button.textContent).toBe("Copied"));
    expect(await written[0]).toBe("# Long \u201creply\u201d \u{1F600}\n\n" + "word ".repeat(20));
    vi.unstubAllGlobals();
  });

  it("says the copy failed when compressed Markdown does not inflate", async () => {
    const copied = clipboard();
    const copy = staticCopy(1);
    decorate(copy, [{ deflate: "bm90IHpsaWI=" }]);
    const button = copy.querySelector(".ling-status .ling-copy") as HTMLButtonElement;
    button.click();
    await vi.waitFor(() => expect(button.textContent).toBe("Copy failed"));
    expect(copied).toEqual([]);
  });

  it("finds the copies in a node added to the page, the node itself included", () => {
    const wrapper = document.createElement("div");
    const inner = wrapper.appendChild(staticCopy(1));
    expect(copiesIn(wrapper)).toEqual([inner]);
    expect(copiesIn(inner)).toEqual([inner]);
    expect(copiesIn(document.createTextNode("x"))).toEqual([]);
  });
});
