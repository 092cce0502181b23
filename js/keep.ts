/**
 * What the ling-notebook extension (keeper.ts) does with a FINAL_EVENT: finds the notebook output that
 * holds the view that dispatched it, and replaces it in its cell's output model by the final copy.
 * JupyterLab's objects are typed here by the few members used, so this runs (and is tested) without them.
 */
import type { FinalDetail } from "./contract";

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

/** The parts of JupyterLab's notebook API used here (structurally; JupyterLab provides the objects). */
export interface OutputModel {
  readonly data: Record<string, unknown>;
  readonly metadata?: Record<string, unknown>;
}

interface OutputAreaModel {
  readonly length: number;
  get(index: number): OutputModel;
  set(index: number, output: { output_type: string; data: Record<string, string>; metadata: Record<string, unknown> }): void;
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

/** Replaces the widget output holding the event's target by the final copy; true when it did. */
export function keep(tracker: NotebookTracker, event: Event): boolean {
  const { bundle, metadata } = (event as CustomEvent<FinalDetail>).detail ?? {};
  if (!(event.target instanceof Node) || !bundle || typeof bundle !== "object") return false;
  const place = findOutput(tracker, event.target);
  // Anything but our widget there means update_display (or the user) replaced it already.
  if (!place || !(WIDGET_VIEW in place.model.get(place.index).data)) return false;
  const data: Record<string, string> = {};
  for (const [mime, value] of Object.entries(bundle)) if (typeof value === "string") data[mime] = value;
  const kept = metadata && typeof metadata === "object" ? metadata : {};
  place.model.set(place.index, { output_type: "display_data", data, metadata: kept });
  return true;
}
