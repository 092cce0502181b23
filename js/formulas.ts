/**
 * Math in model output: which text is a formula, and a formula as MathML, by the rules of
 * ling_notebook/formulas.py (the static copy); js/test/formula-cases.json holds the cases both agree on.
 *
 * Owns: markdown-it-texmath's configuration (`$...$`, `$$...$$`, `\(...\)`, `\[...\]`), Temml's options
 * for untrusted TeX, the limits and refused commands, and a cache of rendered formulas.
 * Prices (`$5 and $10`), escaped dollars and code spans stay text, and a formula whose closing delimiter
 * has not come yet is plain text: while a reply streams, an open formula shows as its source until it
 * closes. A formula that cannot be shown (a TeX error, a refused command, too long) is its source, with
 * the reason as its title. Temml writes MathML, which the browser lays out: no fonts to ship.
 *
 * Temml is half the renderer's size, so it is a bundle of its own (js/math.ts), imported the first time a
 * formula is shown (`provideMath`): a page without math never compiles it, and a page with math does so
 * in a task of its own. Until it is there, a formula shows its source (`ling-math-pending`), and views
 * that showed one render those blocks again when it arrives (`onMathReady`).
 * Does not own: sanitizing (markdown.ts passes everything through sanitize.ts, which allows MathML).
 */
import type { MarkdownIt as Parser, Token } from "markdown-it";
import texmath from "markdown-it-texmath";

/** A longer formula is shown as its source (formulas.py, the same). */
export const MAX_TEX_CHARS = 10_000;

/** Commands that make a formula be shown as its source, in both views (formulas.py `REFUSED`). */
const REFUSED = new Set([
  // links and HTML extensions: what Temml only does with `trust`
  "href", "url", "includegraphics", "class", "cssId", "id", "style", "data",
  "htmlClass", "htmlId", "htmlStyle", "htmlData",
  // macro definitions: expansion bombs
  "def", "gdef", "edef", "xdef", "let", "futurelet", "newcommand", "renewcommand", "providecommand",
]);

const COMMAND = /\\([A-Za-z]+)/g;
const CLOSERS: Record<string, string> = { $: "$", $$: "$$", "\\(": "\\)", "\\[": "\\]" };
const TOKENS = ["math_inline", "math_inline_double", "math_block", "math_block_eqno"];

/**
 * texmath's own `$...$` lets a formula run over a `$` (`$5, and $10, $x$` is one formula from the first
 * `$`); mdit-py-plugins' dollarmath, which the static copy uses, closes at the first unescaped `$`, with
 * no space inside either delimiter. The same rule here, as a regex in texmath's table. texmath's
 * `\(...\)` does not cross a line; dollarmath's brackets do.
 */
const DOLLAR_INLINE = /\$(?!\s)((?:[^\\$]|\\[\s\S])+)(?<!\s)\$/gy;
const BRACKET_INLINE = /\\\(([\s\S]+?)\\\)/gy;
/**
 * texmath's `$$...$$` block may hold blank lines and ends at the first `$$` wherever it is on its line
 * (the rest of the line is dropped); dollarmath's holds none (TeX has none there, and the live view ends a
 * block at a blank line while it streams), and its closing `$$` ends its line.
 */
const NO_BLANK_LINE = "(?:[^$\\n]|\\n(?![ \\t]*\\n))*?[^\\\\]";
const DOLLAR_BLOCKS: Record<string, RegExp> = {
  math_block_eqno: new RegExp(`\\\${2}(${NO_BLANK_LINE})\\\${2}\\s*?\\(([^)\\s]+?)\\)`, "gmy"),
  math_block: new RegExp(`\\\${2}(${NO_BLANK_LINE})\\\${2}`, "gmy"),
};
const LINE_END = /[ \t]*(?:\n|$)/y;

function endsLine(str: string, _outerSpace: boolean, end: number): boolean {
  LINE_END.lastIndex = end + 1;
  return LINE_END.test(str);
}

class FormulaError extends Error {}

/** What formulas.ts needs of Temml. */
export interface MathEngine {
  renderToString(tex: string, options: Record<string, unknown>): string;
}

let engine: MathEngine | null = null;
let loadEngine: (() => Promise<MathEngine>) | null = null;
let loading = false;
let shownPending = 0;
const readyCallbacks = new Set<() => void>();

/**
 * Where Temml comes from: the engine itself (tests), or a function importing it (loader.ts: the math
 * bundle), called once, the first time a formula is shown.
 */
export function provideMath(source: MathEngine | (() => Promise<MathEngine>)): void {
  if (typeof source === "function") loadEngine = source;
  else setEngine(source);
}

/**
 * Calls `callback` once, when formulas shown pending can be rendered (or could not be: they then show
 * their source with the reason). Returns a function that cancels it.
 */
export function onMathReady(callback: () => void): () => void {
  readyCallbacks.add(callback);
  return () => readyCallbacks.delete(callback);
}

/** How many formulas were shown pending so far: a renderer compares it around a render. */
export function pendingFormulas(): number {
  return shownPending;
}

function setEngine(next: MathEngine): void {
  engine = next;
  const callbacks = [...readyCallbacks];
  readyCallbacks.clear();
  for (const callback of callbacks) {
    try {
      callback();
    } catch (err) {
      console.error("[ling-notebook] could not show the formulas again", err);
    }
  }
}

class MathPending extends Error {}

function startLoading(): void {
  if (loading || !loadEngine) return;
  loading = true;
  const load = loadEngine;
  loadEngine = null; // with it, the bundle's source it holds
  load().then(setEngine, (err) => {
    console.error("[ling-notebook] could not load math", err);
    setEngine({
      renderToString: () => {
        throw new FormulaError("Math could not be loaded in this page.");
      },
    });
  });
}

/** Adds the math rules to `md`, and renders every math token as MathML (or its source). */
export function installFormulas(md: Parser): void {
  for (const rule of texmath.rules.dollars.inline) if (rule.name === "math_inline") rule.rex = DOLLAR_INLINE;
  for (const rule of texmath.rules.brackets.inline) if (rule.name === "math_inline") rule.rex = BRACKET_INLINE;
  for (const rule of texmath.rules.dollars.block) {
    rule.rex = DOLLAR_BLOCKS[rule.name] ?? rule.rex;
    rule.post = endsLine;
  }
  // The engine is never called (the render rules below replace texmath's); given so that texmath does
  // not look for KaTeX.
  md.use(texmath, { delimiters: ["dollars", "brackets"], engine: { renderToString: () => "" } });
  for (const name of TOKENS) md.renderer.rules[name] = renderToken;
}

function renderToken(tokens: Token[], idx: number): string {
  const token = tokens[idx];
  // texmath puts an inline formula's opener in `markup`, a block's in `tag`.
  let html = formulaHtml(token.content, token.type !== "math_inline", token.markup || token.tag);
  if (token.type === "math_block_eqno" && token.info) html += `<span class="ling-math-label">(${escapeHtml(token.info)})</span>`;
  return token.block ? `<div class="ling-math-block">${html}</div>\n` : html;
}

/** MathML for `tex`, or its source between `opener` and its closer with the reason as title. */
export function formulaHtml(tex: string, display: boolean, opener: string): string {
  const source = () => escapeHtml(`${opener}${tex}${CLOSERS[opener] ?? opener}`);
  try {
    return toMathML(tex.trim(), display);
  } catch (err) {
    if (err instanceof MathPending) {
      shownPending++;
      return `<code class="ling-math-pending">${source()}</code>`;
    }
    const message = err instanceof Error ? err.message : String(err);
    return `<code class="ling-math-error" title="${escapeHtml(message)}">${source()}</code>`;
  }
}

// The open block is rendered again on every update while a reply streams: its formulas come from here.
const cache = new Map<string, string>();
const CACHE_SIZE = 512;

/**
 * `tex` as a MathML `<math>` element (not sanitized); throws when it is not shown as math, or (with
 * `MathPending`) not yet: Temml is still loading.
 */
export function toMathML(tex: string, display: boolean): string {
  const key = `${display ? "D" : "I"}${tex}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  if (tex.length > MAX_TEX_CHARS) {
    throw new FormulaError(`Formula too long (${tex.length} characters; at most ${MAX_TEX_CHARS}).`);
  }
  const refused = [...new Set([...tex.matchAll(COMMAND)].map((m) => m[1]).filter((c) => REFUSED.has(c)))].sort();
  if (refused.length) throw new FormulaError(`Not allowed in a reply: \\${refused[0]}`);
  if (!engine) {
    if (!loadEngine && !loading) throw new FormulaError("Math is not available in this page.");
    startLoading();
    throw new MathPending();
  }
  const html = engine.renderToString(tex, {
    displayMode: display,
    throwOnError: true,
    trust: false,
    // Lengths (\rule, \hspace, \kern) are capped: [em, pt].
    maxSize: [20, 200],
    maxExpand: 1000,
  });
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
  cache.set(key, html);
  return html;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
