/**
 * Incremental splitting of streamed Markdown into top-level blocks.
 *
 * Owns: deciding where one block ends and the next begins while text arrives in arbitrary pieces,
 * and cutting a block that grows too long.
 * Does not own: the Markdown rules (markdown-it's block parser finds the boundaries, see
 * markdown.ts) or the DOM (see renderer.ts).
 *
 * Only the open tail of the stream is parsed: the lines after the last cut, at most a window of
 * twice the limits at a time. Its top-level tokens' line maps say where blocks start; every one but
 * the last is finished (CommonMark decides where a block ends from the lines up to that point), so
 * it is cut off, and the tail keeps only the last, open block. Rendering the blocks one by one thus
 * gives the same HTML as rendering the whole text at once. The exceptions are deliberate and bounded:
 *  - an open block that grows past a limit (a 2,000-item list, a huge code block or table, also
 *    inside a list item or a quote) is cut at a safe line and continued in a new block flagged
 *    `cont`, so that parsing and re-rendering the open block stays cheap however long the reply
 *    grows: a cut code block is closed and re-opened with the same fence, a cut table repeats its
 *    header rows, a cut list restarts at an item, and a cut inside list items re-opens them with
 *    their own markers (flagged `reopened`);
 *  - link reference definitions (`[x]: url`) only apply inside their own block.
 */
import type { Token } from "markdown-it";
import { parseBlocks } from "./markdown";

/** One top-level block of Markdown source. */
export interface Block {
  /**
   * The Markdown source of the block. A closed block ends with a newline (a code block left open
   * by its container keeps its last line's newline, as in the whole text).
   */
  text: string;
  /** True when the block continues the previous one, which was cut because it grew too long. */
  cont: boolean;
  /** True when the block starts by re-opening the list items a cut was inside (not new items). */
  reopened: boolean;
  /**
   * When the block starts by re-opening a fenced code block that was cut, the characters of that
   * code block in the blocks before (so that highlighting can stop once the whole is too large);
   * otherwise 0.
   */
  code: number;
}

export interface SplitterLimits {
  /** Cut an open block (at a safe line) once it holds this many lines. */
  maxLines: number;
  /** Cut an open block (at a safe line) once it holds this many characters. */
  maxChars: number;
}

export const DEFAULT_LIMITS: SplitterLimits = { maxLines: 300, maxChars: 12_000 };

const BLANK = /^[ \t]*$/;
const LIST_MARKER = /^([-+*]|\d{1,9}[.)])/;

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

/** The rest of a line, starting at absolute column `col` (tabs expand to multiples of 4). */
interface Rest {
  s: string;
  col: number;
}

/** Consumes `n` columns of whitespace (a tab may be split); null when the line has less. */
function eatColumns(rest: Rest, n: number): Rest | null {
  let { s, col } = rest;
  while (n > 0) {
    const c = s[0];
    if (c === " ") {
      s = s.slice(1);
      col += 1;
      n -= 1;
    } else if (c === "\t") {
      const width = 4 - (col % 4);
      s = width <= n ? s.slice(1) : " ".repeat(width - n) + s.slice(1);
      col += Math.min(width, n);
      n -= Math.min(width, n);
    } else {
      return null;
    }
  }
  return { s, col };
}

/** The columns of whitespace at the start of `rest`. */
function spaceColumns(rest: Rest): number {
  return indentOf(" ".repeat(rest.col % 4) + rest.s) - (rest.col % 4);
}

/**
 * A quote marker and one optional column of space after it. Only called on lines inside the quote,
 * where markdown-it takes a `>` after any indentation as the quote's (CommonMark: at most three).
 */
function eatQuote(rest: Rest): Rest | null {
  const at = eatColumns(rest, spaceColumns(rest)) as Rest;
  if (at.s[0] !== ">") return null;
  const after = { s: at.s.slice(1), col: at.col + 1 };
  return spaceColumns(after) > 0 ? eatColumns(after, 1) : after;
}

/** A list item: its marker and the width of its prefix, in columns from where the item starts. */
interface ItemShape {
  marker: string;
  width: number;
}

/** The marker and content column of the list item whose first line is `rest`. */
function itemShape(rest: Rest): { shape: ItemShape; after: Rest } | null {
  const lead = spaceColumns(rest);
  if (lead > 3) return null;
  const at = eatColumns(rest, lead) as Rest;
  const m = LIST_MARKER.exec(at.s);
  if (!m) return null;
  const after = { s: at.s.slice(m[1].length), col: at.col + m[1].length };
  const gap = spaceColumns(after);
  const blank = BLANK.test(after.s);
  // CommonMark: an item starting with a blank line, or with five or more spaces after its marker
  // (indented code), has its content one column past the marker.
  const used = blank || gap > 4 ? 1 : gap;
  if (!blank && used === 0) return null;
  const content = blank ? after : (eatColumns(after, used) as Rest);
  return { shape: { marker: m[1], width: lead + m[1].length + used }, after: content };
}

/** A list item or block quote that a cut line is inside. */
interface Container {
  kind: "item" | "quote";
  /** Index (in the tail) of the container's first line, the one with its marker. */
  line: number;
}

/** A top-level token: its index in the token list and its lines in the tail. */
interface Top {
  index: number;
  start: number;
  end: number;
}

/** Where to cut the open block, and how the new open block starts. */
interface Cut {
  /** The first block ends before this line. */
  at: number;
  /** A line closing the first block (a fence). */
  closer?: string;
  /** The lines the new block starts with, before the tail's lines from `rest` on. */
  head: string[];
  rest: number;
  /** The head re-opens list items. */
  reopened: boolean;
  /** For a cut inside a fence: the fence's first line and the characters of code before the cut. */
  fence?: { start: number; chars: number };
}

/**
 * Cuts a stream of Markdown into blocks. Feed it with `append`; each call returns the blocks that
 * the new text closed. `open()` is the block still being written (possibly empty).
 */
export class BlockSplitter {
  private readonly limits: SplitterLimits;
  /** The unfinished last line: everything after the last line ending. */
  private partial = "";
  /** Complete lines of the open tail, without their line endings. */
  private lines: string[] = [];
  private cont = false;
  private reopened = false;
  /** `Block.code` of the tail's first block, and the tail line of the fence it re-opens. */
  private code = 0;
  private codeLine = -1;
  private out: Block[] = [];

  constructor(limits: Partial<SplitterLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Adds text to the stream and returns the blocks it closed, in order. */
  append(chunk: string): Block[] {
    let text = this.partial + chunk;
    // A CR at the very end may be the first half of a CRLF: wait for the next piece.
    const held = text.endsWith("\r") ? 1 : 0;
    if (held) text = text.slice(0, -1);
    const ends = /\r\n|\r|\n/g;
    let start = 0;
    let fresh = false;
    for (let m = ends.exec(text); m; m = ends.exec(text)) {
      this.lines.push(text.slice(start, m.index));
      start = m.index + m[0].length;
      fresh = true;
    }
    this.partial = text.slice(start) + (held ? "\r" : "");
    if (!fresh) return [];
    this.out = [];
    this.settle();
    const closed = this.out;
    this.out = [];
    return closed;
  }

  /** The open block: its complete lines and the unfinished last line, as received. */
  open(): Block {
    const text = this.lines.length ? `${this.lines.join("\n")}\n${this.partial}` : this.partial;
    return { text, cont: this.cont, reopened: this.reopened, code: this.code };
  }

  /** Cuts off every finished block of the tail, and the open block while it is over the limits. */
  private settle(): void {
    let whole = false;
    while (this.lines.length) {
      const n = whole ? this.lines.length : this.windowLines();
      whole = false;
      const tokens = parseBlocks(`${this.lines.slice(0, n).join("\n")}\n`);
      const tops = topLevel(tokens);
      if (!tops.length) {
        // Blank lines between blocks belong to none.
        this.lines.splice(0, n);
        continue;
      }
      const last = tops[tops.length - 1];
      for (let i = 0; i + 1 < tops.length; i++) this.emit(tops[i].start, tops[i].end);
      if (last.start > 0) {
        // Re-parse what is left, so that token maps count from the tail's first line.
        this.lines.splice(0, last.start);
        continue;
      }
      if (this.overLimits(n)) {
        const cut = this.findCut(tokens, last.index, n);
        if (cut) {
          this.apply(cut);
          continue;
        }
      }
      if (finished(tokens[last.index], last, this.lines, n)) {
        this.emit(0, last.end);
        this.lines.splice(0, last.end);
        continue;
      }
      // Nothing to cut in the window: look at the whole tail once (only a block that has no safe
      // line to cut at gets here, and it is then re-parsed whole).
      if (n === this.lines.length) return;
      whole = true;
    }
  }

  /** How many tail lines to parse: at most twice the limits, so parsing a huge append stays linear. */
  private windowLines(): number {
    let chars = 0;
    const maxLines = Math.min(this.lines.length, 2 * this.limits.maxLines);
    for (let i = 0; i < maxLines; i++) {
      chars += this.lines[i].length + 1;
      if (chars > 2 * this.limits.maxChars) return Math.max(1, i);
    }
    return maxLines;
  }

  private overLimits(n: number): boolean {
    if (n >= this.limits.maxLines) return true;
    let chars = 0;
    for (let i = 0; i < n; i++) chars += this.lines[i].length + 1;
    return chars >= this.limits.maxChars;
  }

  /** The last line a cut may end the first part at: the one where the limits are reached. */
  private limitLine(n: number): number {
    let chars = 0;
    const most = Math.min(n, this.limits.maxLines);
    for (let i = 0; i < most; i++) {
      chars += this.lines[i].length + 1;
      if (chars > this.limits.maxChars) return Math.max(1, i);
    }
    return most;
  }

  private findCut(tokens: Token[], index: number, n: number): Cut | null {
    return new CutFinder(tokens, this.lines).search(index, [], this.limitLine(n));
  }

  private apply(cut: Cut): void {
    let text = this.lines.slice(0, cut.at).join("\n");
    if (cut.closer !== undefined) text += `\n${cut.closer}`;
    else text = trimBlankLines(text);
    this.out.push({ text: `${text}\n`, cont: this.cont, reopened: this.reopened, code: this.code });
    this.lines = [...cut.head, ...this.lines.slice(cut.rest)];
    this.cont = true;
    this.reopened = cut.reopened;
    // A fence cut again in its re-opened part adds to the code counted so far.
    const before = cut.fence && cut.fence.start === this.codeLine ? this.code : 0;
    this.code = cut.fence ? before + cut.fence.chars : 0;
    this.codeLine = cut.fence ? cut.head.length - 1 : -1;
  }

  /** Emits tail lines [start, end) as a finished block. */
  private emit(start: number, end: number): void {
    // A block's lines are those of its token: blank lines between blocks belong to none, but
    // those inside a block stay (an unclosed code block in a list item keeps them, as in the whole).
    const text = this.lines.slice(start, end).join("\n");
    this.out.push({ text: `${text}\n`, cont: this.cont, reopened: this.reopened, code: this.code });
    this.cont = false;
    this.reopened = false;
    this.code = 0;
    this.codeLine = -1;
  }
}

function trimBlankLines(text: string): string {
  const lines = text.split("\n");
  let end = lines.length;
  while (end > 0 && BLANK.test(lines[end - 1])) end--;
  return lines.slice(0, end).join("\n");
}

/** The top-level blocks among `tokens`, with the lines each spans. */
function topLevel(tokens: Token[]): Top[] {
  const tops: Top[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.level === 0 && t.nesting !== -1 && t.map) tops.push({ index: i, start: t.map[0], end: t.map[1] });
  }
  return tops;
}

/**
 * True when nothing after the last `n` lines can extend the block `top`: a heading, a thematic
 * break, a closed fence, or a paragraph, table, quote or reference followed by a blank line.
 */
function finished(token: Token, top: Top, lines: string[], n: number): boolean {
  switch (token.type) {
    case "heading_open":
    case "hr":
    case "math_block": // only a closed formula is one (formulas.ts): an open one is a paragraph
    case "math_block_eqno":
      return true;
    case "fence":
      // Without a closing fence, the code runs to the end of the window.
      return countLines(token.content) < top.end - top.start - 1;
    case "paragraph_open":
    case "table_open":
    case "blockquote_open":
    case "reference_definition":
      return top.end < n && BLANK.test(lines[top.end]);
    default:
      return false;
  }
}

function countLines(content: string): number {
  let count = 0;
  for (let i = content.indexOf("\n"); i >= 0; i = content.indexOf("\n", i + 1)) count++;
  return count;
}

/** `cut` when it makes the open block shorter (the new block's head replaces fewer lines than it cuts off). */
function progress(cut: Cut): Cut | null {
  return cut.at > 0 && cut.rest > cut.head.length ? cut : null;
}

/** Finds the latest safe line to cut an over-long open block at, looking into its containers. */
class CutFinder {
  constructor(
    private readonly tokens: Token[],
    private readonly lines: string[],
  ) {}

  /** A cut inside the block at `index` (inside `chain`), at a line no later than `limit`. */
  search(index: number, chain: Container[], limit: number): Cut | null {
    const token = this.tokens[index];
    const [start, end] = token.map as [number, number];
    switch (token.type) {
      case "fence": {
        const closed = countLines(token.content) < end - start - 1;
        const at = Math.min(limit, closed ? end - 2 : end - 1);
        if (at <= start) return null;
        // The first part is closed with the fence, the second re-opens it with the same line.
        const frame = this.frame(chain);
        const opener = frame && this.inside(start, chain);
        if (!frame || opener === null) return null;
        return progress({
          at,
          closer: frame.prefix + token.markup,
          head: [...frame.openers, frame.prefix + opener],
          rest: at,
          reopened: frame.openers.length > 0,
          fence: { start, chars: this.chars(start + 1, at) },
        });
      }
      case "code_block":
      case "paragraph_open":
        for (let at = Math.min(limit, end - 1); at > start; at--) {
          const cut = this.lineCut(at, chain, token.type === "code_block" ? "code" : "paragraph");
          if (cut) return cut;
        }
        return null;
      case "table_open": {
        if (chain.length) return null;
        // Cut before a body row, and repeat the header and delimiter rows.
        let best = -1;
        for (let i = index + 1; this.tokens[i].type !== "table_close"; i++) {
          const t = this.tokens[i];
          if (t.type === "tr_open" && t.map && t.map[0] >= start + 3 && t.map[0] <= limit) best = t.map[0];
        }
        if (best < 0) return null;
        return progress({ at: best, head: [this.lines[start], this.lines[start + 1]], rest: best, reopened: false });
      }
      case "bullet_list_open":
      case "ordered_list_open":
        return this.inChildren(index, chain, limit, start);
      case "list_item_open":
      case "blockquote_open": {
        const kind = token.type === "list_item_open" ? "item" : "quote";
        return this.inChildren(index, [...chain, { kind, line: start }], limit, start);
      }
      default:
        return null;
    }
  }

  /**
   * A cut at the start of the last child that starts by `limit` (not at the container's first
   * line, which its parent cuts at), else inside that child: cuts between children first, as they
   * re-open fewer containers.
   */
  private inChildren(index: number, chain: Container[], limit: number, start: number): Cut | null {
    const level = this.tokens[index].level + 1;
    const children: number[] = [];
    for (let i = index + 1; i < this.tokens.length; i++) {
      const t = this.tokens[i];
      if (t.level < level) break;
      if (t.level === level && t.nesting !== -1 && t.map) children.push(i);
    }
    for (let c = children.length - 1; c >= 0; c--) {
      const childStart = (this.tokens[children[c]].map as [number, number])[0];
      if (childStart > limit) continue;
      if (childStart > start) {
        // A list is cut before an item; an item or quote before a block inside it.
        const cut = this.lineCut(childStart, chain, "start");
        if (cut) return cut;
      }
      const inner = this.search(children[c], chain, limit);
      if (inner) return inner;
    }
    return null;
  }

  /** The characters of lines [start, end), line endings included. */
  private chars(start: number, end: number): number {
    let n = 0;
    for (let i = start; i < end; i++) n += this.lines[i].length + 1;
    return n;
  }

  /** A cut before line `at`, which the new block starts with (inside re-opened containers). */
  private lineCut(at: number, chain: Container[], what: "code" | "paragraph" | "start"): Cut | null {
    if (BLANK.test(this.lines[at])) return null;
    const frame = this.frame(chain);
    // A paragraph's continuation line may be lazy (without its containers' prefixes) and its
    // indentation does not count: it goes on inside the innermost container, unindented.
    const rest = frame && (what === "paragraph" ? this.paragraphText(at, chain) : this.inside(at, chain));
    if (!frame || rest === null) return null;
    // A paragraph line must still read as paragraph text once it starts a block (an indented
    // line would be code, "2." a list); indented code must stay indented.
    if (what === "paragraph" && parseBlocks(`${rest}\n`)[0]?.type !== "paragraph_open") return null;
    if (what === "code" && indentOf(rest) < 4) return null;
    const head = [...frame.openers, frame.prefix + rest];
    return progress({ at, head, rest: at + 1, reopened: frame.openers.length > 0 });
  }

  /**
   * How to re-open `chain` at the start of a block: a line with the marker of each list item (as
   * an item starting with a blank line, whose content column is one past the marker), and the
   * prefix that puts a line inside all of them.
   */
  private frame(chain: Container[]): { openers: string[]; prefix: string } | null {
    const openers: string[] = [];
    let prefix = "";
    for (let i = 0; i < chain.length; i++) {
      if (chain[i].kind === "quote") {
        prefix += "> ";
        continue;
      }
      const shape = this.shape(chain, i);
      if (!shape) return null;
      const lead = shape.width - shape.marker.length - 1;
      if (lead > 3) return null;
      openers.push(prefix + " ".repeat(lead) + shape.marker);
      prefix += " ".repeat(shape.width);
    }
    return { openers, prefix };
  }

  /** The marker and width of the list item `chain[i]`, read from its first line. */
  private shape(chain: Container[], i: number): ItemShape | null {
    const rest = this.strip(chain[i].line, chain.slice(0, i));
    return rest && (itemShape(rest)?.shape ?? null);
  }

  /** Line `at` without the prefixes of `chain`, leading whitespace as spaces; null if it lacks one. */
  private inside(at: number, chain: Container[]): string | null {
    const rest = this.strip(at, chain);
    if (!rest) return null;
    const lead = spaceColumns(rest);
    return " ".repeat(lead) + rest.s.replace(/^[ \t]*/, "");
  }

  /** The text of a paragraph's continuation line `at`: without the prefixes it has, unindented. */
  private paragraphText(at: number, chain: Container[]): string {
    return (this.strip(at, chain, true) as Rest).s.replace(/^[ \t]+/, "");
  }

  /** With `partial`, a line lacking a prefix keeps the rest after the prefixes it has. */
  private strip(at: number, chain: Container[], partial = false): Rest | null {
    let rest: Rest = { s: this.lines[at], col: 0 };
    for (let i = 0; i < chain.length; i++) {
      const c = chain[i];
      let next: Rest | null;
      if (c.kind === "quote") {
        next = eatQuote(rest);
      } else if (c.line === at) {
        next = itemShape(rest)?.after ?? null;
      } else {
        const shape = this.shape(chain, i);
        next = shape && eatColumns(rest, shape.width);
      }
      if (!next) return partial ? rest : null;
      rest = next;
    }
    return rest;
  }
}
