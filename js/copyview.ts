/**
 * A reply's static copy, drawn by the ling-notebook extension in JupyterLab and Notebook 7 (keeper.ts
 * registers it for COPY_MIME, which the kernel puts beside the copy's `text/html`).
 *
 * Why not the front end's own HTML renderer: it parses, styles and lays out the whole copy in the task
 * that handles the kernel's message, the same task that removes the live view, and then loads MathJax to
 * typeset it (benchmark figure 10: 50-160 ms at the end of a 20,000-60,000-token reply). Here the copy is
 * parsed inert, in a frame of its own, and its chunks (render.py's windows, `.ling-chunk`) are put in place
 * a few per frame, so no task grows with the length of the reply. The copy's formulas are MathML already.
 *
 * Owns: turning a copy's HTML into nodes under a host element, and the frames that do it.
 * Does not own: the copy (the kernel's, render.py), its Copy buttons (copies.ts, added by keeper.ts as
 * the nodes arrive), or JupyterLab's output area (the renderer widget in keeper.ts).
 */
import { frameScheduler, type Scheduler } from "./frames";

/** The MIME type of the marker the kernel adds to a copy's bundle: its value is `{}`, the HTML is `text/html`. */
export const COPY_MIME = "application/vnd.ling-notebook.copy+json";

/** Chunks put in place per frame after the first. A chunk is 32 blocks; off screen it is not laid out
 * (`content-visibility: auto` in the copy's stylesheet), so a frame's cost is mostly the visible ones. */
export const CHUNKS_PER_FRAME = 4;

/**
 * Draws `html` into `host`, in place of what it held, from the next frame on. There it is sanitized by
 * `sanitize` (an untrusted output: the front end's own sanitizer, as its HTML renderer would) or not (a
 * trusted one, as there) and parsed inert (a template: nothing runs or loads until the nodes are in the
 * page); every link opens in a new tab without access to this one (as the kernel writes them); every
 * top-level `.ling-chunk` is held back and put in place `perFrame` at a time in the frames after. Where that
 * fails (the sanitizer throws), `host` shows `fallback` as text. Returns a function that stops the drawing;
 * drawing again into the same host must stop the one before.
 */
export function drawCopy(host: HTMLElement, html: string, sanitize: ((html: string) => string) | null,
                         fallback = "", schedule: Scheduler = frameScheduler,
                         perFrame = CHUNKS_PER_FRAME): () => void {
  let cancel = schedule(() => {
    const template = document.createElement("template");
    try {
      template.innerHTML = sanitize ? sanitize(html) : html;
    } catch (err) {
      console.error("[ling-notebook] could not draw a reply's copy", err);
      host.textContent = fallback;
      return;
    }
    const fragment = template.content;
    for (const link of fragment.querySelectorAll<HTMLElement>("a[href], area[href]")) {
      link.setAttribute("target", "_blank");
      link.setAttribute("rel", "noopener noreferrer");
    }
    const held = [...fragment.querySelectorAll<HTMLElement>(".ling-chunk")]
      .filter((chunk) => !chunk.parentElement?.closest(".ling-chunk"))
      .map((chunk) => {
        const mark = document.createComment("");
        chunk.replaceWith(mark);
        return { mark, chunk };
      });
    host.replaceChildren(fragment);
    let next = 0;
    const place = (): void => {
      for (const end = Math.min(next + perFrame, held.length); next < end; next++) {
        held[next].mark.replaceWith(held[next].chunk);
      }
      if (next < held.length) cancel = schedule(place);
    };
    place();
  });
  return () => cancel();
}
