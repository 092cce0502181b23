import { describe, expect, it } from "vitest";
import { type CellModel, followNotebook, isLingCell, MARKDOWN_MIME, type NotebookLike } from "../cellmode";

const PYTHON = "text/x-ipython";

/** A Lumino-like signal: slots run in order, synchronously. */
class FakeSignal<A> {
  private readonly slots: Array<(sender: unknown, args: A) => void> = [];
  connect(slot: (sender: unknown, args: A) => void): boolean {
    this.slots.push(slot);
    return true;
  }
  emit(args: A): void {
    for (const slot of [...this.slots]) slot(this, args);
  }
}

class FakeCell implements CellModel {
  readonly mimeTypeChanged = new FakeSignal<unknown>();
  readonly sharedModel;
  private mime = "text/plain";
  private source: string;
  constructor(source: string, readonly type = "code") {
    this.source = source;
    const changed = new FakeSignal<{ sourceChange?: unknown }>();
    this.sharedModel = { getSource: () => this.source, changed };
  }
  get mimeType(): string {
    return this.mime;
  }
  set mimeType(value: string) {
    if (value === this.mime) return;
    this.mime = value;
    this.mimeTypeChanged.emit({ newValue: value });
  }
  type_(source: string): void {
    this.source = source;
    this.sharedModel.changed.emit({ sourceChange: [{ insert: source }] });
  }
}

function notebook(...cells: FakeCell[]) {
  const list = { items: cells, changed: new FakeSignal<{ type: string; newValues: readonly CellModel[] }>() };
  const nb = {
    codeMimetype: PYTHON,
    model: { cells: { get length() { return list.items.length; }, get: (i: number) => list.items[i], changed: list.changed } },
    modelChanged: new FakeSignal<void>(),
  } satisfies NotebookLike;
  // What JupyterLab's notebook does: every code cell gets the kernel's type, on insertion and on a kernel change.
  const reset = () => list.items.forEach((cell) => cell.type === "code" && (cell.mimeType = nb.codeMimetype));
  const insert = (cell: FakeCell) => {
    list.items.push(cell);
    list.changed.emit({ type: "add", newValues: [cell] });
    cell.mimeType = nb.codeMimetype;
  };
  return { nb, reset, insert };
}

describe("a %%ling cell's editor", () => {
  it("knows a %%ling cell as IPython does", () => {
    for (const yes of ["%%ling", "%%ling -m x\nhi", "\n  %%ling\tplease"]) expect(isLingCell(yes)).toBe(true);
    for (const no of ["%%lingo", "%ling stop", "x = 1\n%%ling", "# %%ling", ""]) expect(isLingCell(no)).toBe(false);
  });

  it("highlights %%ling cells as Markdown and leaves the others to the notebook", () => {
    const ling = new FakeCell("%%ling\n# Title");
    const python = new FakeCell("def f(): pass");
    const text = new FakeCell("%%ling in a Markdown cell", "markdown");
    const { nb, reset } = notebook(ling, python, text);
    reset();
    followNotebook(nb);
    expect([ling.mimeType, python.mimeType, text.mimeType]).toEqual([MARKDOWN_MIME, PYTHON, "text/plain"]);
  });

  it("stays Markdown when the notebook gives every code cell its kernel's type again", () => {
    const ling = new FakeCell("%%ling\nhi");
    const { nb, reset } = notebook(ling);
    followNotebook(nb);
    reset();
    expect(ling.mimeType).toBe(MARKDOWN_MIME);
  });

  it("follows new cells and what the user types", () => {
    const { nb, insert } = notebook();
    followNotebook(nb);
    const cell = new FakeCell("");
    insert(cell);
    expect(cell.mimeType).toBe(PYTHON);
    cell.type_("%%ling\n**bold**");
    expect(cell.mimeType).toBe(MARKDOWN_MIME);
    cell.type_("print('no longer a prompt')");
    expect(cell.mimeType).toBe(PYTHON);
  });

  it("leaves another extension's choice for a cell that is not a prompt", () => {
    const sql = new FakeCell("SELECT 1");
    const { nb } = notebook(sql);
    followNotebook(nb);
    sql.mimeType = "application/sql";
    sql.type_("SELECT 2");
    expect(sql.mimeType).toBe("application/sql");
  });
});
