/**
 * Incremental splitting of streamed Markdown into top-level blocks.
 *
 * Owns: deciding where one block ends and the next begins while text arrives in arbitrary pieces.
 * Does not own: parsing a block (markdown-it does that) or the DOM (see renderer.ts).
 *
 * The splitter only ever looks at complete lines it has not seen before, plus a little state about
 * the open block, so the work per appended piece is proportional to the piece, never to the reply.
 * A block is cut where CommonMark would end it anyway (a blank line after a paragraph, a heading or
 * fence that interrupts a paragraph, ...), so rendering the blocks one by one gives the same HTML as
 * rendering the whole text at once. The exceptions are deliberate and bounded:
 *  - an open block that grows past a cap (a 2,000-item list, a huge code block or table) is cut at a
 *    safe line and continued in a new block flagged `cont`, so that re-rendering the open block stays
 *    cheap however long the reply grows: a cut code block is closed and re-opened with the same fence,
 *    a cut table repeats its header rows, a cut list restarts at an item;
 *  - link reference definitions (`[x]: url`) only apply inside their own block.
 */

/** One top-level block of Markdown source. */
export interface Block {
  /** The Markdown source of the block, without a trailing newline. */
  text: string;
  /** True when the block continues the previous one, which was cut because it grew too long. */
  cont: boolean;
}

export interface SplitterLimits {
  /** Cut an open block (at a safe line) once it holds this many lines. */
  maxLines: number;
  /** Cut an open block (at a safe line) once it holds this many characters. */
  maxChars: number;
}

export const DEFAULT_LIMITS: SplitterLimits = { maxLines: 300, maxChars: 12_000 };

/** What the open block is, as far as the cutting decisions need to know. */
type Mode = "none" | "text" | "list" | "table" | "quote" | "icode" | "fence";

interface Fence {
  /** The fence character: a backtick or a tilde. */
  char: string;
  /** How many of them opened the fence; a closing fence needs at least as many. */
  len: number;
  /** The opening line, repeated when a long code block is continued in a new block. */
  opener: string;
}

const BLANK = /^[ \t]*$/;
const FENCE_OPEN = /^[ \t]*(`{3,}|~{3,})(.*)$/;
const ATX_HEADING = /^ {0,3}#{1,6}(?:[ \t]|$)/;
const THEMATIC_BREAK = /^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$/;
const SETEXT_UNDERLINE = /^ {0,3}(?:=+|-+)[ \t]*$/;
const LIST_ITEM = /^( {0,3})([-+*]|\d{1,9}[.)])([ \t]+|$)/;
const TABLE_DELIMITER = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

/** Width of the leading whitespace of `line` in columns (tabs advance to the next multiple of 4). */
export function indentOf(line: string): number {
  let col = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x20) col += 1;
    else if (c === 0x09) col += 4 - (col % 4);
    else break;
  }
  return col;
}

/** The column where the content of a list item starts, or -1 when `line` does not start an item. */
function listItemContent(line: string): number {
  const m = LIST_ITEM.exec(line);
  if (!m) return -1;
  const markerEnd = m[1].length + m[2].length;
  const gap = m[3].length === 0 ? 1 : indentOf(m[3]);
  // CommonMark: with five or more spaces after the marker, the content is indented code and the
  // item's content column is one space past the marker.
  return markerEnd + (gap > 4 ? 1 : gap);
}

function fenceOpening(line: string): Fence | null {
  const m = FENCE_OPEN.exec(line);
  if (!m) return null;
  const marker = m[1];
  // A backtick fence's info string may not contain a backtick (otherwise it is inline code).
  if (marker[0] === "`" && m[2].includes("`")) return null;
  return { char: marker[0], len: marker.length, opener: line };
}

function closesFence(line: string, fence: Fence): boolean {
  const trimmed = line.trim();
  if (trimmed.length < fence.len) return false;
  for (let i = 0; i < trimmed.length; i++) if (trimmed[i] !== fence.char) return false;
  return true;
}

/**
 * Cuts a stream of Markdown into blocks. Feed it with `append`; each call returns the blocks that
 * the new text closed. `open()` is the block still being written (possibly empty).
 */
export class BlockSplitter {
  private readonly limits: SplitterLimits;
  /** The unfinished last line: everything after the last newline. */
  private partial = "";
  /** Complete lines of the open block. */
  private lines: string[] = [];
  private chars = 0;
  private mode: Mode = "none";
  private cont = false;
  /** The fence of the open block when mode is "fence", or of a code block nested in a list item. */
  private fence: Fence | null = null;
  /** True when the open block ends with blank lines that a later line may still continue. */
  private blank = false;
  /** Content column of the current top-level list item. */
  private itemCol = 0;
  /** The header and delimiter rows of the open table, repeated when a long table is cut. */
  private tableHead: string[] = [];
  /** The last line ended a construct (a thematic break or setext underline). */
  private fresh = false;
  private out: Block[] = [];

  constructor(limits: Partial<SplitterLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Adds text to the stream and returns the blocks it closed, in order. */
  append(chunk: string): Block[] {
    let nl = chunk.indexOf("\n");
    if (nl < 0) {
      this.partial += chunk;
      return [];
    }
    this.out = [];
    this.line(this.partial + chunk.slice(0, nl));
    let start = nl + 1;
    while ((nl = chunk.indexOf("\n", start)) >= 0) {
      this.line(chunk.slice(start, nl));
      start = nl + 1;
    }
    this.partial = chunk.slice(start);
    const closed = this.out;
    this.out = [];
    return closed;
  }

  /** The open block: its complete lines and the unfinished last line, as received. */
  open(): Block {
    const text = this.lines.length ? `${this.lines.join("\n")}\n${this.partial}` : this.partial;
    return { text, cont: this.cont };
  }

  private line(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (this.mode === "fence") {
      this.fenceLine(line);
      return;
    }
    const blank = BLANK.test(line);
    const indent = blank ? 0 : indentOf(line);
    if (this.fence) {
      // A code block nested in a list item: it ends at its closing fence, or where the item ends
      // (a non-blank line indented less than the item's content; fenced code has no lazy lines).
      if (blank || indent >= this.itemCol) {
        this.push(line);
        if (!blank && closesFence(line, this.fence)) this.fence = null;
        return;
      }
      this.fence = null;
    }
    if (blank) {
      if (this.mode === "list" || this.mode === "icode") {
        this.push(line);
        this.blank = true;
      } else if (this.mode !== "none") {
        this.close();
      }
      return;
    }

    const item = indent <= 3 ? listItemContent(line) : -1;
    const inItem = this.mode === "list" && indent >= this.itemCol;
    if (this.blank) {
      this.blank = false;
      const continues =
        inItem || (this.mode === "icode" && indent >= 4) || (this.mode === "list" && item >= 0);
      if (!continues) this.close();
    }
    if (this.mode !== "none" && !inItem && indent <= 3) {
      // Headings and fences interrupt whatever came before and start a block of their own.
      if (ATX_HEADING.test(line) || fenceOpening(line)) this.close();
    }
    if (this.mode !== "none" && this.overCap()) this.cutBefore(line, indent, item, inItem);

    if (this.mode === "none") {
      this.start(line, indent, item);
      return;
    }
    this.continueWith(line, indent, item, inItem);
  }

  /** The first line of a new block. */
  private start(line: string, indent: number, item: number): void {
    const fence = indent <= 3 ? fenceOpening(line) : null;
    this.push(line);
    if (fence) {
      this.mode = "fence";
      this.fence = fence;
    } else if (indent <= 3 && ATX_HEADING.test(line)) {
      this.close();
    } else {
      this.classify(line, indent, item);
    }
  }

  /** Sets the mode for a line that starts a new construct inside the open block. */
  private classify(line: string, indent: number, item: number): void {
    // After a thematic break (or a setext underline) nothing continues: the next line is fresh.
    this.fresh = THEMATIC_BREAK.test(line);
    if (this.fresh) {
      this.mode = "text";
    } else if (item >= 0) {
      this.startItem(line, item);
    } else if (indent >= 4) {
      this.mode = "icode";
    } else if (line.trimStart().startsWith(">")) {
      this.mode = "quote";
    } else {
      this.mode = "text";
    }
  }

  /** A top-level list item; its first line may open a fenced code block (`- ```js`). */
  private startItem(line: string, item: number): void {
    this.mode = "list";
    this.itemCol = item;
    this.fence = fenceOpening(line.replace(LIST_ITEM, ""));
  }

  /**
   * A line that goes on in the open block. Only the mode matters here: it decides whether a later
   * blank line may end the block. When unsure, a block is kept whole (always rendered right);
   * only a cut in the wrong place could render differently from the whole text.
   */
  private continueWith(line: string, indent: number, item: number, inItem: boolean): void {
    const previous = this.lines[this.lines.length - 1] ?? "";
    switch (this.mode) {
      case "list":
        if (inItem) {
          const fence = fenceOpening(line);
          if (fence) this.fence = fence;
        } else if (item >= 0 && !THEMATIC_BREAK.test(line)) {
          this.startItem(line, item);
        }
        break;
      case "table":
        if (!line.includes("|")) this.classify(line, indent, item);
        break;
      case "icode":
        if (indent < 4) this.classify(line, indent, item);
        break;
      default:
        if (this.fresh) {
          this.classify(line, indent, item);
        } else if (item >= 0 && !THEMATIC_BREAK.test(line)) {
          // Also a lone "-", which might be a setext underline instead: keeping more is safe.
          this.startItem(line, item);
        } else if (SETEXT_UNDERLINE.test(line) || THEMATIC_BREAK.test(line)) {
          this.fresh = true;
        } else if (this.mode === "text" && TABLE_DELIMITER.test(line) && line.includes("|") &&
                   previous.includes("|")) {
          this.mode = "table";
          this.tableHead = [previous, line];
        } else if (indent >= 4) {
          // Lazy paragraph text, or indented code when no paragraph is open (after a quoted
          // fence, say): as code, a blank line and more indented lines keep the block whole.
          this.mode = "icode";
        } else if (line.trimStart().startsWith(">")) {
          this.mode = "quote";
        }
    }
    this.push(line);
  }

  private fenceLine(line: string): void {
    const fence = this.fence as Fence;
    if (closesFence(line, fence)) {
      this.push(line);
      this.close();
      return;
    }
    if (this.overCap()) {
      // Close this part of the code block with its own fence and go on in a new block that
      // re-opens it, so the open block stays small.
      this.emit(`${this.lines.join("\n")}\n${fence.char.repeat(fence.len)}`);
      this.reset();
      this.cont = true;
      this.mode = "fence";
      this.fence = fence;
      this.push(fence.opener);
    }
    this.push(line);
  }

  /** Cuts an over-long open block before `line`, when `line` can safely start a continuation. */
  private cutBefore(line: string, indent: number, item: number, inItem: boolean): void {
    const mode = this.mode;
    let safe: boolean;
    if (mode === "list") safe = item >= 0 && !inItem;
    else if (mode === "table") safe = line.includes("|");
    else if (mode === "quote") safe = line.trimStart().startsWith(">");
    else if (mode === "icode") safe = indent >= 4;
    else safe = !SETEXT_UNDERLINE.test(line) && !TABLE_DELIMITER.test(line);
    if (!safe) return;
    const head = mode === "table" ? this.tableHead : [];
    this.close();
    this.cont = true;
    this.mode = mode;
    for (const h of head) this.push(h);
    this.tableHead = head;
  }

  private overCap(): boolean {
    return this.lines.length >= this.limits.maxLines || this.chars >= this.limits.maxChars;
  }

  private push(line: string): void {
    this.lines.push(line);
    this.chars += line.length + 1;
  }

  private close(): void {
    let end = this.lines.length;
    while (end > 0 && BLANK.test(this.lines[end - 1])) end--;
    if (end > 0) this.emit(this.lines.slice(0, end).join("\n"));
    this.reset();
  }

  private emit(text: string): void {
    this.out.push({ text, cont: this.cont });
  }

  private reset(): void {
    this.lines = [];
    this.chars = 0;
    this.mode = "none";
    this.cont = false;
    this.fence = null;
    this.blank = false;
    this.tableHead = [];
    this.fresh = false;
  }
}
