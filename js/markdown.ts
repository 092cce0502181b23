/**
 * Markdown source -> sanitized DOM, for one block at a time.
 *
 * Owns: the markdown-it configuration. Raw HTML in model output is escaped and shown as text
 * (`html: false`), links must pass `isSafeUrl`, and images are shown as links rather than loaded:
 * a reply must not make the browser fetch URLs on its own (a known way to leak notebook data).
 * Math is MathML (formulas.ts).
 * Every result goes through DOMPurify before it reaches the page.
 */
import MarkdownIt, { type Env, type MarkdownIt as Parser, type Token } from "markdown-it";
import { installFormulas } from "./formulas";
import { highlightCode, MAX_HIGHLIGHT_CHARS, prepareLanguage } from "./highlight";
import { isSafeUrl, sanitizeToFragment } from "./sanitize";
import { completeTail, installTailRules, type TailEnv } from "./tail";

function createParser(highlight: boolean): Parser {
  const md = new MarkdownIt({
    html: false,
    linkify: true,
    typographer: false,
    highlight: highlight ? (code, lang) => highlightCode(code, lang) : null,
  });
  md.validateLink = isSafeUrl;
  const fence = md.renderer.rules.fence as NonNullable<typeof md.renderer.rules.fence>;
  md.renderer.rules.fence = (tokens, idx, options, env, self) => {
    // The first fence of a block may continue a code block cut into parts (Block.code): as with
    // one block, code past MAX_HIGHLIGHT_CHARS is left plain, so a huge code block costs no more
    // highlighting than a 64 kB one, however many parts it is cut into.
    // A fence shown plain is (part of) an open block: get its language ready for when it closes.
    if (!highlight) prepareLanguage(tokens[idx].info);
    const before = (env as RenderEnv | undefined)?.codeBefore ?? 0;
    const tooLong = before > 0 && before + tokens[idx].content.length > MAX_HIGHLIGHT_CHARS;
    const plain = tooLong && tokens.findIndex((t) => t.type === "fence") === idx;
    return fence(tokens, idx, plain ? { ...options, highlight: null } : options, env, self);
  };
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const token = tokens[idx];
    const src = String(token.attrGet("src") ?? "");
    const alt = String(self.renderInlineAsText(token.children ?? [], options, env)) || "image";
    const esc = md.utils.escapeHtml;
    return `<a class="ling-image-link" href="${esc(src)}" title="${esc(`Image (not loaded): ${src}`)}">` +
      `[image: ${esc(alt)}]</a>`;
  };
  installFormulas(md);
  installTailRules(md);
  return md;
}

/** What a render knows beyond the source: see `renderMarkdown`. */
type RenderEnv = Env & TailEnv & { codeBefore?: number };

const plainParser = createParser(false);
const highlightingParser = createParser(true);

/**
 * The HTML for `src`, before sanitizing. With `highlight`, fenced code of known languages is
 * highlighted; `codeBefore` is the length of code in earlier parts of a cut code block that the
 * first fence of `src` continues (see `Block.code`). With `complete`, `src` is a block cut short
 * (the open block, or the last of a stopped reply): the inline markers its end leaves open are
 * closed (see tail.ts), which costs a second parse only when there is something to close.
 */
export function markdownToHtml(src: string, highlight: boolean, codeBefore = 0, complete = false): string {
  const md = highlight ? highlightingParser : plainParser;
  let env: RenderEnv = { codeBefore, complete };
  let tokens = md.parse(src, env);
  if (complete) {
    const completed = completeTail(src, tokens, env);
    if (completed !== src) {
      env = { codeBefore };
      tokens = md.parse(completed, env);
    }
  }
  return md.renderer.render(tokens, md.options, env);
}

/** `src` as `markdownToHtml(src, …, true)` shows it: its open inline markers closed. */
export function completeMarkdown(src: string): string {
  const env: RenderEnv = { complete: true };
  return completeTail(src, plainParser.parse(src, env), env);
}

/**
 * The block-level tokens of `src`, without inline parsing: the structure `BlockSplitter` cuts at.
 * `src` must already use "\n" line endings (markdown-it's own normalizing runs only in `render`).
 */
export function parseBlocks(src: string): Token[] {
  const tokens: Token[] = [];
  plainParser.block.parse(src, plainParser, {}, tokens);
  return tokens;
}

/** Renders Markdown `src` into a sanitized fragment of the current document (see `markdownToHtml`). */
export function renderMarkdown(src: string, highlight: boolean, codeBefore = 0, complete = false): DocumentFragment {
  return sanitizeToFragment(markdownToHtml(src, highlight, codeBefore, complete));
}
