/**
 * The body of a `%%ling` cell is a Markdown prompt, not Python: in JupyterLab 4 and Notebook 7 the
 * ling-notebook extension (keeper.ts) has its editor highlight it as Markdown.
 *
 * Owns: the editor MIME type of code cells whose source starts with `%%ling`. It is set to the one of
 * Markdown cells (`text/x-ipythongfm`: Markdown, fenced code in its language, math), and kept so as the user
 * types and when the notebook gives every code cell its kernel's type again (a new cell, a kernel change);
 * a cell that no longer starts with `%%ling` gets the notebook's code type back. Only cells changed here are
 * changed back: another extension's choice for other cells is left alone. Nothing is saved: the MIME type
 * is the editor's, not the notebook file's.
 */

export const MARKDOWN_MIME = "text/x-ipythongfm";

// IPython removes leading blank lines and indentation before it looks for a cell magic.
const LING_MAGIC = /^\s*%%ling(?:\s|$)/;

/** True when a cell with this source runs the `%%ling` cell magic. */
export function isLingCell(source: string): boolean {
  return LING_MAGIC.test(source);
}

/** The parts of JupyterLab's objects used here (structurally; JupyterLab provides them). */
interface Signal<A> {
  connect(slot: (sender: unknown, args: A) => void): boolean;
}

export interface CellModel {
  readonly type: string;
  mimeType: string;
  readonly mimeTypeChanged: Signal<unknown>;
  readonly sharedModel: { getSource(): string; readonly changed: Signal<{ sourceChange?: unknown }> };
}

interface CellList {
  readonly length: number;
  get(index: number): CellModel;
  readonly changed: Signal<{ type: string; newValues: readonly CellModel[] }>;
}

export interface NotebookLike {
  readonly codeMimetype: string;
  readonly model: { readonly cells: CellList } | null;
  readonly modelChanged: Signal<void>;
}

/** Keeps the `%%ling` cells of one notebook widget highlighted as Markdown (see the module docstring). */
export function followNotebook(notebook: NotebookLike): void {
  const followed = new WeakSet<CellModel>();
  const changedHere = new WeakSet<CellModel>();

  const apply = (cell: CellModel) => {
    if (isLingCell(cell.sharedModel.getSource())) {
      changedHere.add(cell);
      if (cell.mimeType !== MARKDOWN_MIME) cell.mimeType = MARKDOWN_MIME;
    } else if (changedHere.has(cell)) {
      changedHere.delete(cell);
      cell.mimeType = notebook.codeMimetype;
    }
  };
  const follow = (cell: CellModel) => {
    if (cell.type !== "code" || followed.has(cell)) return;
    followed.add(cell);
    cell.mimeTypeChanged.connect(() => guard(() => apply(cell)));
    cell.sharedModel.changed.connect((_, change) => {
      if (change.sourceChange) guard(() => apply(cell));
    });
    apply(cell);
  };
  const followModel = () => {
    const cells = notebook.model?.cells;
    if (!cells) return;
    for (let i = 0; i < cells.length; i++) follow(cells.get(i));
    cells.changed.connect((_, change) => {
      if (change.type === "add" || change.type === "set") guard(() => change.newValues.forEach(follow));
    });
  };
  notebook.modelChanged.connect(() => guard(followModel));
  followModel();
}

function guard(run: () => void): void {
  try {
    run();
  } catch (err) {
    console.error("[ling-notebook] could not set a %%ling cell's highlighting", err);
  }
}
