/**
 * The one JupyterLab module the extension (keeper.ts) imports. JupyterLab provides it at run time (the
 * prebuilt extension shares it with the page, it is not bundled), so only its token is declared here; the
 * objects it gives are typed structurally in keeper.ts.
 */
declare module "@jupyterlab/notebook" {
  export const INotebookTracker: object;
}
