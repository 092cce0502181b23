/**
 * The JupyterLab modules the extension (keeper.ts) imports. JupyterLab provides them at run time (the
 * prebuilt extension shares them with the page, they are not bundled), so only what is used is declared
 * here; the objects the tokens give are typed structurally in keeper.ts.
 */
declare module "@jupyterlab/notebook" {
  export const INotebookTracker: object;
}

declare module "@jupyterlab/rendermime" {
  export const IRenderMimeRegistry: object;
}

declare module "@lumino/widgets" {
  export class Widget {
    readonly node: HTMLElement;
    addClass(name: string): void;
    toggleClass(name: string, force?: boolean): boolean;
    dispose(): void;
  }
}
