/**
 * The renderer bundle (built to ling_notebook/static/app.js and app.css): markdown-it, DOMPurify,
 * highlight.js, the view and its stylesheet. A page loads it once, through the stub in widget.ts, and
 * every reply view in the page shares it. Temml comes apart (js/math.ts), through `provideMath`.
 */
import "./widget.css";
import "./chat.css";
import { ChatView } from "./chat";
import { CompareView } from "./compare";
import type { AnyLingModel, ChatModelState, CompareModelState, LingModelState, WidgetModel } from "./contract";
import { provideMath } from "./formulas";
import { LingView } from "./view";

interface RenderProps {
  model: AnyLingModel;
  el: HTMLElement;
}

/**
 * Builds one view of `model` in `el` (anywidget's render contract): a comparison when the model has
 * `columns`, a chat box when it has `turns`, else a reply. The cleanup removes all it registered.
 */
export function render({ model, el }: RenderProps): () => void {
  const columns = (model as WidgetModel<CompareModelState>).get("columns");
  const turns = (model as WidgetModel<ChatModelState>).get("turns");
  const view = Array.isArray(columns)
    ? new CompareView(model as WidgetModel<CompareModelState>, el)
    : Array.isArray(turns)
      ? new ChatView(model as WidgetModel<ChatModelState>, el)
      : new LingView(model as WidgetModel<LingModelState>, el);
  return () => {
    try {
      view.dispose();
    } catch (err) {
      console.error("[ling-notebook] cleanup failed", err);
    }
  };
}

export { provideMath };

export default { render, provideMath };
