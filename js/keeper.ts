/**
 * The ling-notebook extension for JupyterLab and Notebook 7 (a prebuilt extension: built by js/build.mjs
 * into ling_notebook/labextension/, installed with the wheel under share/jupyter/labextensions/).
 *
 * Owns, in the page:
 * - putting a reply's final copy into the notebook's model when the kernel cannot. At the end of a reply
 *   the kernel replaces every output it displayed with update_display; an output loaded from a file (the
 *   page was reloaded, or the notebook closed and reopened, while the reply streamed) has no display id,
 *   so that misses it. Such a view hears the end as a `final` message and dispatches FINAL_EVENT from its
 *   element (view.ts); here the output that holds the element is replaced, in its cell's output model, by
 *   the copy (keep.ts). The notebook model then holds it, a save keeps it, and the view is disposed as for
 *   update_display. The output is replaced only while it is still the widget: if update_display came
 *   first, there is nothing left to do.
 * - drawing the static copies (the outputs whose data has COPY_MIME beside `text/html`) a few chunks a frame
 *   (copyview.ts), instead of the front end's HTML renderer.
 * - the static copies' Copy buttons (copies.ts), added to each copy as the page renders it, with the
 *   Markdown from its output's metadata.
 * - the `%%ling` cells' editors, highlighted as Markdown (cellmode.ts).
 * - a chat box's output in a notebook that opens: its transcript (chatcopy.ts).
 *
 * Does not own: the copy (the kernel's, built by ling_notebook/render.py) or deciding when the widget closes.
 */
import { INotebookTracker } from "@jupyterlab/notebook";
import { IRenderMimeRegistry } from "@jupyterlab/rendermime";
import { Widget } from "@lumino/widgets";
import { type NotebookLike, followNotebook } from "./cellmode";
import { followOpening, type OpenedNotebook } from "./chatcopy";
import { FINAL_EVENT } from "./contract";
import { CONTROLS_CSS, copiesIn, decorate, decorateCode, markdownOf } from "./copies";
import { COPY_MIME, drawCopy } from "./copyview";
import { findOutput, keep, type NotebookTracker } from "./keep";

type Panel = { readonly content: NotebookLike } & OpenedNotebook;

/** The parts of JupyterLab's rendermime API used here. */
interface MimeModel {
  readonly data: Readonly<Record<string, unknown>>;
  readonly trusted: boolean;
}

interface RendererOptions {
  readonly sanitizer: { sanitize(html: string): string };
}

interface RenderMimeRegistry {
  addFactory(factory: {
    readonly safe: boolean;
    readonly mimeTypes: readonly string[];
    createRenderer(options: RendererOptions): Widget & { renderModel(model: MimeModel): Promise<void> };
  }, rank: number): void;
}

/** Before JupyterLab's HTML renderer (rank 50), after the widget renderer (0). */
const COPY_RANK = 45;

/** An output area's renderer for a static copy: its HTML drawn by copyview.ts, styled as JupyterLab's HTML
 * outputs are. `safe`: an untrusted copy is sanitized first by the front end's sanitizer, as its HTML renderer
 * does (a trusted one is not, there either). */
class CopyRenderer extends Widget {
  private stop: () => void = () => {};

  constructor(private readonly options: RendererOptions) {
    super();
    this.addClass("jp-RenderedHTMLCommon");
    this.addClass("jp-RenderedHTML");
    this.node.dataset.mimeType = COPY_MIME;
  }

  async renderModel(model: MimeModel): Promise<void> {
    this.stop();
    const html = model.data["text/html"];
    const plain = model.data["text/plain"];
    const sanitizer = this.options.sanitizer;
    const text = typeof plain === "string" ? plain : "";
    this.toggleClass("jp-mod-trusted", model.trusted);
    if (typeof html === "string") {
      this.stop = drawCopy(this.node, html, model.trusted ? null : (dirty) => sanitizer.sanitize(dirty), text);
    } else {
      this.node.textContent = text;
    }
  }

  dispose(): void {
    this.stop();
    super.dispose();
  }
}

interface Tracker extends NotebookTracker {
  readonly widgetAdded: { connect(slot: (sender: unknown, panel: Panel) => void): boolean };
}

/** Adds the controls to the static copies in `node`, each with the Markdown its output's metadata holds, and
 * to the code blocks of `node` when it is a part of a copy put in place later (a chunk, copyview.ts). */
function decorateCopies(tracker: NotebookTracker, node: Node): void {
  for (const copy of copiesIn(node)) {
    try {
      const place = findOutput(tracker, copy);
      decorate(copy, place ? markdownOf(place.model.get(place.index).metadata) : null);
    } catch (err) {
      console.error("[ling-notebook] could not add Copy to a reply's copy", err);
    }
  }
  if (node instanceof Element && node.parentElement?.closest(".ling-static[data-ling-controls]")) decorateCode(node);
}

const plugin = {
  id: "ling-notebook:keeper",
  description: "Keeps a ling-notebook reply's final copy in the notebook, draws it, offers Copy on it, and shows %%ling cells as Markdown.",
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  activate: (_app: unknown, tracker: Tracker, rendermime: RenderMimeRegistry): void => {
    rendermime.addFactory({ safe: true, mimeTypes: [COPY_MIME], createRenderer: (options) => new CopyRenderer(options) }, COPY_RANK);

    document.addEventListener(FINAL_EVENT, (event) => {
      try {
        if (keep(tracker, event)) event.preventDefault();
      } catch (err) {
        console.error("[ling-notebook] could not keep the final copy in the notebook", err);
      }
    });

    const style = document.createElement("style");
    style.dataset.lingNotebook = "controls";
    style.textContent = CONTROLS_CSS;
    document.head.append(style);
    // A copy is rendered when its output is (a run, update_display, a keep, a notebook opened): the nodes
    // come into the page with the output's model already in place, so the metadata can be read then.
    new MutationObserver((records) => {
      for (const record of records) for (const node of record.addedNodes) decorateCopies(tracker, node);
    }).observe(document.body, { childList: true, subtree: true });
    decorateCopies(tracker, document.body);

    tracker.forEach((panel) => {
      followNotebook(panel.content as unknown as NotebookLike);
      followOpening(panel as unknown as OpenedNotebook);
    });
    tracker.widgetAdded.connect((_, panel) => {
      followNotebook(panel.content);
      followOpening(panel);
    });
  },
};

export default plugin;
