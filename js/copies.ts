/**
 * The controls of a static copy, added by the ling-notebook extension (keeper.ts) while the page lives.
 *
 * Owns: the Copy of each reply (its Markdown) in the header of the copy, where the live view had its own, so
 * nothing moves when the copy replaces the view; and a Copy per code block (its code). The copy itself
 * (ling_notebook/render.py) is sanitized HTML with no script and no button, and stays so: these controls live
 * in the page only, never in the notebook. The HTML cannot give the Markdown back, so it comes from the
 * output's metadata (COPY_METADATA), one text per reply header, in order; without it (an older copy, a
 * history, a batch summary) only the code blocks get a Copy.
 */
import { COPY_METADATA } from "./contract";
import { button, copyLater, copyText } from "./copy";

const FEEDBACK_MS = 1500;

/** The controls' look: the live view's buttons (js/widget.css), for the copy's header and its code blocks. */
export const CONTROLS_CSS = `
.ling-static .ling-status > .ling-actions{display:inline-flex;gap:6px;margin-left:auto}
.ling-static .ling-actions button,.ling-static .ling-code-copy{padding:0 8px;min-height:22px;
border:var(--jp-border-width,1px) solid var(--jp-border-color1,rgba(127,127,127,.5));
border-radius:var(--jp-border-radius,2px);background:var(--jp-layout-color1,transparent);
color:var(--jp-ui-font-color1,inherit);font:inherit;font-family:var(--jp-ui-font-family,system-ui,sans-serif);
font-size:var(--jp-ui-font-size1,13px);line-height:1.5;cursor:pointer}
.ling-static .ling-actions button:hover,.ling-static .ling-code-copy:hover{background:var(--jp-layout-color2,rgba(127,127,127,.15))}
.ling-static .ling-actions button:focus-visible,.ling-static .ling-code-copy:focus-visible{
outline:2px solid var(--jp-brand-color1,#1976d2);outline-offset:1px}
.ling-static.ling-static pre{position:relative}
.ling-static .ling-code-copy{position:absolute;top:4px;right:4px;opacity:0;user-select:none}
.ling-static pre:hover>.ling-code-copy,.ling-static .ling-code-copy:focus-visible{opacity:1}
@media (hover:none){.ling-static .ling-code-copy{opacity:1}}
`;

/**
 * One reply's Markdown as the metadata holds it (render.py `copy_metadata`): the text, or for a long one its
 * UTF-8 compressed in zlib's format, in base64.
 */
export type Markdown = string | { deflate: string };

function isMarkdown(text: unknown): text is Markdown {
  return typeof text === "string" || typeof (text as { deflate?: unknown } | null)?.deflate === "string";
}

/** The Markdown of each reply of a copy, from its output's metadata; null when it has none. */
export function markdownOf(metadata: unknown): Markdown[] | null {
  const entry = (metadata as Record<string, unknown> | null | undefined)?.[COPY_METADATA];
  const texts = (entry as { markdown?: unknown } | null | undefined)?.markdown;
  return Array.isArray(texts) && texts.every(isMarkdown) ? texts : null;
}

/** The text of `markdown`, compressed: inflated by the browser's own DecompressionStream. */
async function inflated(markdown: { deflate: string }): Promise<string> {
  const packed = Uint8Array.from(atob(markdown.deflate), (c) => c.charCodeAt(0));
  const body = new Response(packed).body as ReadableStream<BufferSource>;
  const inflated = body.pipeThrough(new DecompressionStream("deflate"));
  return await new Response(inflated).text();
}

/**
 * A Copy button: copies `text()` on a click and says for a moment whether it worked. A text is copied in the
 * click itself, and one still to be inflated is handed to the clipboard as a promise (`copyLater`).
 */
function copyButton(
  className: string, aria: string, parent: HTMLElement, text: () => Markdown,
): HTMLButtonElement {
  const node = button(className, "Copy", aria, parent);
  let timer: ReturnType<typeof setTimeout> | null = null;
  node.addEventListener("click", async (event) => {
    event.stopPropagation();
    const value = text();
    let ok = false;
    try {
      ok = await (typeof value === "string" ? copyText(value) : copyLater(inflated(value)));
    } catch {
      // Markdown that does not inflate (a notebook edited by hand): the copy failed, and says so.
    }
    node.textContent = ok ? "Copied" : "Copy failed";
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      node.textContent = "Copy";
    }, FEEDBACK_MS);
  });
  return node;
}

/**
 * Adds the controls to one static copy (`.ling-static`): once, Copy in each reply's header when `markdown` has
 * one text per header (a reply with no text gets none, as in the live view); and Copy on each code block that
 * has none yet, each time (chunks put in place while the output was off the page made no mutation record).
 */
export function decorate(copy: HTMLElement, markdown: readonly Markdown[] | null): void {
  decorateCode(copy);
  if (copy.dataset.lingControls !== undefined) return;
  copy.dataset.lingControls = "";
  const headers = copy.querySelectorAll<HTMLElement>("div.ling-status");
  if (markdown && markdown.length === headers.length) {
    headers.forEach((header, index) => {
      const text = markdown[index];
      if (!text) return;
      const actions = document.createElement("span");
      actions.className = "ling-actions";
      header.append(actions);
      copyButton("ling-copy", "Copy the reply as Markdown", actions, () => text);
    });
  }
}

/**
 * Adds Copy to each code block in `node` that has none yet: in a copy as it is added, and in each chunk of it
 * put in place later (copyview.ts draws a long copy a few chunks a frame).
 */
export function decorateCode(node: ParentNode): void {
  for (const code of node.querySelectorAll<HTMLElement>("pre > code")) {
    const pre = code.parentElement as HTMLElement;
    if (pre.querySelector(":scope > .ling-code-copy")) continue;
    // The code as written, without the line end that closes the block.
    copyButton("ling-code-copy", "Copy this code", pre, () => (code.textContent ?? "").replace(/\r?\n$/, ""));
  }
}

/** The static copies in `node` (itself included). */
export function copiesIn(node: Node): HTMLElement[] {
  if (!(node instanceof Element)) return [];
  const found = [...node.querySelectorAll<HTMLElement>(".ling-static")];
  if (node.classList.contains("ling-static")) found.unshift(node as HTMLElement);
  return found;
}
