/**
 * The anywidget entry point of ling-notebook's reply widget (bundled to ling_notebook/static/widget.js).
 * Each rendered view is independent; its cleanup removes everything it registered.
 */
import type { LingModelState, WidgetModel } from "./contract";
import { LingView } from "./view";

interface RenderProps {
  model: WidgetModel<LingModelState>;
  el: HTMLElement;
}

function render({ model, el }: RenderProps): () => void {
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
