/**
 * The ling-notebook extension for JupyterLab and Notebook 7 (a prebuilt extension: built by js/build.mjs
 * into ling_notebook/labextension/, installed with the wheel under share/jupyter/labextensions/).
 *
 * Owns: putting a reply's final copy into the notebook's model when the kernel cannot. At the end of a
 * reply the kernel replaces every output it displayed with update_display; an output loaded from a file
 * (the page was reloaded, or the notebook closed and reopened, while the reply streamed) has no display id,
 * so that misses it. Such a view hears the end as a `final` message and dispatches FINAL_EVENT from its
 * element (view.ts); here the output that holds the element is replaced, in its cell's output model, by
 * the copy. The notebook model then holds it, a save keeps it, and the view is disposed as for
 * update_display. The output is replaced only while it is still the widget: if update_display came
 * first, there is nothing left to do.
 *
 * Does not own: the copy (the kernel's, built by ling_notebook/render.py) or deciding when the widget closes.
 */
import { INotebookTracker } from "@jupyterlab/notebook";
import { FINAL_EVENT } from "./contract";
import { keep, type NotebookTracker } from "./keep";

const plugin = {
  id: "ling-notebook:keeper",
  description: "Keeps a ling-notebook reply's final copy in the notebook when its page was reloaded mid-stream.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: unknown, tracker: NotebookTracker): void => {
    document.addEventListener(FINAL_EVENT, (event) => {
      try {
        if (keep(tracker, event)) event.preventDefault();
      } catch (err) {
        console.error("[ling-notebook] could not keep the final copy in the notebook", err);
      }
    });
  },
};

export default plugin;
