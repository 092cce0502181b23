/**
 * Completes the unclosed inline markers at the end of a cut Markdown block: the open block while a
 * reply streams, and the last block of a reply that was stopped or cut at max tokens. `**bold` shows
 * bold, not a raw `**`; a marker run that has nothing after it yet (`text **`) is held back.
 *
 * Owns: the two markdown-it rules that note, while the block is parsed anyway, what is left open in
 * its last inline content (emphasis and strikethrough openers that `balance_pairs` left unmatched, and
 * a backtick run that found no closer), and `completeTail`, which turns that note into the completed
 * source. The parser decides what is a marker, so markers inside code spans and fences are never
 * touched, and a marker that could not open (`snake_case`, `2 * 3`) is never closed. Like Streamdown's
 * `remend` it works in one pass, but over the open block only and with the parser's own delimiter
 * rules, so the static copy (ling_notebook/tail.py, the same rules in markdown-it-py) completes the
 * same text the same way.
 */
import type { MarkdownIt as Parser, StateInline, Token } from "markdown-it";

/** What `completeTail` needs to know about the last inline content parsed. */
export interface Tail {
  /** The inline content (the source of the last inline token). */
  src: string;
  /** Characters to drop from its end (a marker run with nothing after it yet), before `append`. */
  drop: number;
  /** The closing markers to add at its end. */
  append: string;
}

/** The render environment that asks for the note: set `complete` to have `tail` filled in. */
export interface TailEnv {
  complete?: boolean;
  tail?: Tail;
}

interface OpenCode {
  /** The index the pending text holding the run will get in `state.tokens`. */
  token: number;
  start: number;
  end: number;
}

const BACKTICK = 0x60;
const MARKERS = new Set([0x2a, 0x5f, 0x7e]); // * _ ~
const PENDING = /(^|\s)([*_~]+)$/;

const openCode = new WeakMap<StateInline, OpenCode>();

/** Adds the rules that fill `env.tail` when `env.complete` is set; they do nothing otherwise. */
export function installTailRules(md: Parser): void {
  const backticks = md.inline.ruler.__rules__.find((rule) => rule.name === "backticks")?.fn;
  if (!backticks) throw new Error("markdown-it has no backticks rule");
  md.inline.ruler.at("backticks", (state, silent) => {
    const start = state.pos;
    const tokens = state.tokens.length;
    const matched = backticks(state, silent);
    // An unmatched run is kept as plain text and parsing goes on after it: note the first one.
    if (matched && !silent && state.tokens.length === tokens && (state.env as TailEnv).complete
        && !openCode.has(state) && state.src.charCodeAt(start) === BACKTICK) {
      openCode.set(state, { token: tokens, start, end: state.pos });
    }
    return matched;
  });
  md.inline.ruler2.after("balance_pairs", "ling_tail", (state) => {
    const env = state.env as TailEnv;
    if (env.complete) env.tail = noteTail(state);
  });
}

function noteTail(state: StateInline): Tail {
  const src = state.src;
  const code = openCode.get(state);
  const openers: string[] = [];
  for (const d of state.delimiters) {
    if (code && d.token >= code.token) break; // inside the code span the run opens
    if (MARKERS.has(d.marker) && d.open && d.end === -1) openers.push(d.marker === 0x7e ? "~~" : String.fromCharCode(d.marker));
  }
  let keep = src.length;
  let append = "";
  if (code && src.slice(code.end).trim() === "") {
    keep = code.start; // nothing in the code span yet: hold the backticks back
  } else if (code) {
    const ticks = code.end - code.start;
    // A shorter run at the end may be the start of the closing one: hold it back.
    const trailing = src.length - src.replace(/`+$/, "").length;
    if (trailing && trailing < ticks) keep -= trailing;
    append = (trailing && keep === src.length ? " " : "") + "`".repeat(ticks);
  }
  if (!code || keep === code.start) {
    // A marker run with nothing after it yet is held back. At the end of the content it opens
    // nothing; before a held-back code span it did, and its openers are dropped with it.
    const rest = src.slice(0, keep).trimEnd();
    const run = PENDING.exec(rest)?.[2];
    if (run) {
      keep = rest.length - run.length;
      let left = code ? run : "";
      while (left && openers.length && left.endsWith(openers[openers.length - 1])) {
        left = left.slice(0, -(openers.pop() as string).length);
      }
    }
  }
  return { src, drop: src.length - keep, append: append + openers.reverse().join("") };
}

/**
 * `src` with the markers its last inline content leaves open closed, given the tokens and env of a
 * parse of `src` with `env.complete` set; `src` itself when there is nothing to complete, or when the
 * last block does not end with inline content (a fence, an empty list item) or ends past it (a
 * table row's closing pipe, a heading's closing #s).
 */
export function completeTail(src: string, tokens: Token[], env: TailEnv): string {
  const tail = env.tail;
  let last = tokens.length - 1;
  while (last >= 0 && tokens[last].nesting === -1) last--;
  if (!tail || last < 0 || tokens[last].type !== "inline" || tokens[last].content !== tail.src) return src;
  if (!tail.drop && !tail.append) return src;
  const trimmed = src.trimEnd();
  const lastLine = tail.src.slice(tail.src.lastIndexOf("\n") + 1);
  if (!trimmed.endsWith(lastLine) || tail.drop > lastLine.length) return src;
  const kept = trimmed.slice(0, trimmed.length - tail.drop);
  return (tail.append ? kept.trimEnd() : kept) + tail.append;
}
