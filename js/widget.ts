/**
 * The anywidget entry point of ling-notebook's widgets (bundled to ling_notebook/static/widget.js): a
 * reply view, or a comparison view when the model has `columns`. Each rendered view is independent;
 * its cleanup removes everything it registered.
 */
import { CompareView } from "./compare";
import type { CompareModelState, LingModelState, WidgetModel } from "./contract";
import { LingView } from "./view";

interface RenderProps {
  model: WidgetModel<LingModelState> | WidgetModel<CompareModelState>;
  el: HTMLElement;
}

function render({ model, el }: RenderProps): () => void {
  const columns = (model as WidgetModel<CompareModelState>).get("columns");
  const view = Array.isArray(columns)
    ? new CompareView(model as WidgetModel<CompareModelState>, el)
    : new LingView(model as WidgetModel<LingModelState>, el);
  return () => {
    try {
      view.dispose();
    } catch (err) {
      console.error("[ling-notebook] cleanup failed", err);
    }
  };
}

export default { render };
