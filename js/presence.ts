/**
 * A view's part in how its widget ends (the kernel side is in ling_notebook/widget.py).
 *
 * Owns: the view's `hello` and `bye` (with a random id, so the kernel knows when no view is left and the
 * widget may close), and what a view does when the reply's end reaches it: update_display replaces every
 * output the kernel displayed in this page, so a view still there when `ended` arrives was missed (its page
 * was reloaded, or the notebook reopened, mid-stream). It asks for the static copy (`copy`) and hands it
 * to the page's ling-notebook extension (FINAL_EVENT, answered by keeper.ts), which replaces the output in
 * the notebook model; where nobody answers, the view keeps its text and says in one line it is not saved.
 * A bye because the page unloads is `away`: the page may be reloading, and the kernel waits for it.
 */
import { FINAL_EVENT, type FinalDetail, type ViewMessage, type WidgetModel } from "./contract";
import { el, logError } from "./pane";

export const UNSAVED_NOTE =
  "This view is not saved in the notebook: run the cell again to keep the reply, or copy the text.";

/** A random id for one view (it only tells views apart: not a secret). */
export function newViewId(): string {
  return `${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
}

/** Dispatches FINAL_EVENT from `root`; true when the page's extension took the copy. */
export function handOver(root: HTMLElement, bundle: unknown, modelId: unknown): boolean {
  if (!bundle || typeof bundle !== "object" || typeof modelId !== "string") return false;
  const detail: FinalDetail = { bundle: bundle as Record<string, string>, model_id: modelId };
  return !root.dispatchEvent(new CustomEvent(FINAL_EVENT, { bubbles: true, cancelable: true, detail }));
}

export class Presence {
  private readonly model: WidgetModel<unknown>;
  private readonly root: HTMLElement;
  private readonly id = newViewId();
  // A page that unloads never disposes its views: say bye then, so the kernel can close the widget.
  private readonly onPageHide = () => this.bye(true);
  private gone = false;

  constructor(model: WidgetModel<unknown>, root: HTMLElement) {
    this.model = model;
    this.root = root;
  }

  /** Says hello (the kernel answers with a snapshot, and `ended` if the reply has ended). */
  hello(): void {
    this.send({ type: "hello", view: this.id }, true);
    globalThis.addEventListener?.("pagehide", this.onPageHide);
  }

  /** Handles `ended` and `final`; false for any other message. */
  onMessage(msg: { type?: unknown; bundle?: unknown; model_id?: unknown }): boolean {
    if (msg.type === "ended") {
      this.send({ type: "copy" }, true);
    } else if (msg.type === "final") {
      // The extension replaces the output, which disposes this view before dispatchEvent returns.
      if (!handOver(this.root, msg.bundle, msg.model_id) && !this.gone && !this.root.querySelector(".ling-unsaved")) {
        el("div", "ling-note ling-unsaved", this.root).textContent = UNSAVED_NOTE;
      }
    } else {
      return false;
    }
    return true;
  }

  /** The view goes: bye. Never throws. */
  dispose(): void {
    this.gone = true;
    globalThis.removeEventListener?.("pagehide", this.onPageHide);
    this.bye();
  }

  private bye(away = false): void {
    // Quietly: when the widget was closed first (its comm is gone), nobody is left to tell.
    this.send(away ? { type: "bye", view: this.id, away } : { type: "bye", view: this.id }, false);
  }

  private send(message: ViewMessage, log: boolean): void {
    try {
      this.model.send(message);
    } catch (err) {
      if (log) logError(`could not send ${message.type}`, err);
    }
  }
}
