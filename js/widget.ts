/**
 * The anywidget entry point of the reply widget (built to ling_notebook/static/widget.js): a small stub
 * that every reply ships. It gets the page's renderer (loader.ts), then builds the view with it; until
 * then the view shows a one-line note. The view says hello only once it exists, and the kernel answers
 * with a snapshot, so messages sent before the renderer arrived are not lost.
 */
import type { AnyLingModel } from "./contract";
import { PageLoader, type RendererRequest } from "./loader";

/** The content hash of the renderer bundle, written in by js/build.mjs. */
declare const LING_RENDERER_HASH: string;

interface RenderProps {
  model: AnyLingModel;
  el: HTMLElement;
}

/** Shows a view of `model` in `el` once `request` gives the renderer; returns the view's cleanup. */
export function mount(model: AnyLingModel, el: HTMLElement, request: RendererRequest): () => void {
  const note = el.ownerDocument.createElement("div");
  note.className = "ling-loading";
  note.textContent = "Loading the reply view…";
  el.append(note);
  let cleanup: (() => void) | null = null;
  let disposed = false;
  request.renderer.then(
    (renderer) => {
      if (disposed) return;
      note.remove();
      cleanup = renderer.render({ model, el });
    },
    (err) => {
      console.error("[ling-notebook] could not load the renderer", err);
      if (!disposed) note.textContent = "ling-notebook could not load its renderer: run the cell again.";
    },
  );
  return () => {
    disposed = true;
    try {
      request.cancel();
      note.remove();
      cleanup?.();
    } catch (err) {
      console.error("[ling-notebook] cleanup failed", err);
    }
  };
}

function render({ model, el }: RenderProps): () => void {
  const page = PageLoader.of(globalThis, LING_RENDERER_HASH, el.ownerDocument);
  return mount(model, el, page.request(model));
}

export default { render };
