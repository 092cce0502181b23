/**
 * What the ling-notebook extension (keeper.ts) does with a FINAL_EVENT: finds the notebook output that
 * holds the view that dispatched it, and replaces it in its cell's output model by the final copy.
 * JupyterLab's objects are typed here by the few members used, so this runs (and is tested) without them.
 */
import DOMPurify from "dompurify";
import type { FinalDetail } from "./contract";
import { COPY_MIME } from "./copyview";

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";
// A leading <style> is kept (FORCE_BODY), and links keep opening in a new tab (they carry rel="noopener").
const KEEP_HTML = { FORCE_BODY: true, ADD_ATTR: ["target"] };

/** An output's data as kept: strings, and COPY_MIME's empty object. */
export type KeptData = Record<string, string | Record<string, never>>;

/** The parts of JupyterLab's notebook API used here (structurally; JupyterLab provides the objects). */
export interface OutputModel {
  readonly data: Record<string, unknown>;
  readonly metadata?: Record<string, unknown>;
}

interface OutputAreaModel {
  readonly length: number;
  get(index: number): OutputModel;
  set(index: number, output: { output_type: string; data: KeptData; metadata: Record<string, unknown> }): void;
}

interface CellLike {
  readonly node: HTMLElement;
  readonly outputArea?: { readonly widgets: ReadonlyArray<{ readonly node: HTMLElement }>; readonly model: OutputAreaModel };
}

export interface NotebookTracker {
  forEach(callback: (panel: { readonly node: HTMLElement; readonly content: { readonly widgets: readonly CellLike[] } }) => void): void;
}

/** Where `target` sits: the output area model holding it and its index there, or null. */
export function findOutput(tracker: NotebookTracker, target: Node): { model: OutputAreaModel; index: number } | null {
  let found: { model: OutputAreaModel; index: number } | null = null;
  tracker.forEach((panel) => {
    if (found || !panel.node.contains(target)) return;
    for (const cell of panel.content.widgets) {
      const area = cell.outputArea;
      if (!area || !cell.node.contains(target)) continue;
      const index = area.widgets.findIndex((output) => output.node.contains(target));
      if (index >= 0 && index < area.model.length) found = { model: area.model, index };
      return;
    }
  });
  return found;
}

/**
 * What the notebook keeps of a bundle: its HTML, without script (DOMPurify's defaults: no script, no event
 * handler, no javascript: URL; the kernel's copy has none, but the event comes from the page, and a notebook
 * saved from this session is trusted, so script kept here would run at every open), its plain text, and
 * the mark that has the extension draw the HTML (copyview.ts). Every other MIME type is dropped.
 */
export function keptData(bundle: Record<string, unknown>): KeptData {
  const data: KeptData = {};
  if (typeof bundle["text/html"] === "string") {
    data["text/html"] = DOMPurify.sanitize(bundle["text/html"], KEEP_HTML);
    if (bundle[COPY_MIME] !== undefined) data[COPY_MIME] = {};
  }
  if (typeof bundle["text/plain"] === "string") data["text/plain"] = bundle["text/plain"];
  return data;
}

/** Replaces the widget output holding the event's target by the final copy; true when it did. */
export function keep(tracker: NotebookTracker, event: Event): boolean {
  const detail = (event as CustomEvent<FinalDetail>).detail;
  const bundle = detail?.bundle;
  if (!(event.target instanceof Node) || !bundle || typeof bundle !== "object") return false;
  const place = findOutput(tracker, event.target);
  // Only the output showing that very widget: anything else there means update_display (or the user)
  // replaced it already, or the event is not from our view.
  const shown = place?.model.get(place.index).data[WIDGET_VIEW] as { model_id?: unknown } | undefined;
  if (!place || !shown || typeof detail.model_id !== "string" || shown.model_id !== detail.model_id) return false;
  const metadata = detail.metadata && typeof detail.metadata === "object" ? detail.metadata : {};
  place.model.set(place.index, { output_type: "display_data", data: keptData(bundle), metadata });
  return true;
}
