/**
 * A chat box's output, in a notebook as it opens (JupyterLab, Notebook 7): its transcript, not the widget.
 *
 * A chat box's output holds both the widget's view and the conversation's static transcript (text/html,
 * put in place again by the kernel after each answer: ling_notebook/chat_widget.py). A notebook that opens
 * has no widget behind it that this page could show (the kernel is new, gone, or holds a box from before
 * the page), and JupyterLab would pick the widget and say "model not found". So here, once a notebook has
 * loaded, each chat output (`metadata.ling_notebook.chat`) loses its widget view and keeps the transcript;
 * running its cell again shows a live box. Outputs that arrive later (a cell run now) are left alone.
 * The transcript is the kernel's sanitized HTML, and JupyterLab renders it as any HTML output.
 */
import { COPY_METADATA } from "./contract";

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

/** The parts of JupyterLab's notebook model used here (structurally; JupyterLab provides the objects). */
interface Output {
  readonly data: Record<string, unknown>;
  readonly metadata?: Record<string, unknown>;
}

interface Outputs {
  readonly length: number;
  get(index: number): Output;
  set(index: number, output: { output_type: string; data: Record<string, unknown>; metadata: Record<string, unknown> }): void;
}

interface Cells {
  readonly length: number;
  get(index: number): { readonly type: string; readonly outputs?: Outputs };
}

export interface OpenedNotebook {
  readonly context: { readonly ready: Promise<void> };
  readonly content: { readonly model: { readonly cells: Cells; dirty: boolean } | null };
}

/** Whether `output` is a chat box's, with its widget view still in it. */
export function isLiveChat(output: Output): boolean {
  const entry = output.metadata?.[COPY_METADATA] as { chat?: unknown } | undefined;
  return typeof entry?.chat === "string" && WIDGET_VIEW in output.data;
}

/** Turns every chat output of `cells` into its transcript; the number it turned. */
export function staticChats(cells: Cells): number {
  let turned = 0;
  for (let i = 0; i < cells.length; i++) {
    const outputs = cells.get(i).outputs;
    if (!outputs) continue;
    for (let j = 0; j < outputs.length; j++) {
      const output = outputs.get(j);
      if (!isLiveChat(output)) continue;
      const data = { ...output.data };
      delete data[WIDGET_VIEW];
      outputs.set(j, { output_type: "display_data", data, metadata: { ...output.metadata } });
      turned++;
    }
  }
  return turned;
}

/** Once `panel`'s notebook has loaded, its chat outputs show their transcripts (not a change to save). */
export function followOpening(panel: OpenedNotebook): void {
  panel.context.ready.then(
    () => {
      const model = panel.content.model;
      if (!model) return;
      const dirty = model.dirty;
      if (staticChats(model.cells) && !dirty) model.dirty = false;
    },
    (err) => console.error("[ling-notebook] could not show a chat box's transcript", err),
  );
}
