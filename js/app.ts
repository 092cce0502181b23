/**
 * The renderer bundle (built to ling_notebook/static/app.js and app.css): markdown-it, DOMPurify,
 * highlight.js, the view and its stylesheet. A page loads it once, through the stub in widget.ts, and
 * every reply view in the page shares it.
 */
import "./widget.css";
import type { LingModelState, WidgetModel } from "./contract";
import { LingView } from "./view";

interface RenderProps {
  model: WidgetModel<LingModelState>;
  el: HTMLElement;
}

/** Builds one view of `model` in `el` (anywidget's render contract); the cleanup removes all it registered. */
export function render({ model, el }: RenderProps): () => void {
  const view = new LingView(model, el);
  return () => {
    try {
      view.dispose();
    } catch (err) {
      console.error("[ling-notebook] cleanup failed", err);
    }
  };
}

export default { render };
