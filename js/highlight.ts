/**
 * Syntax highlighting for closed code blocks: highlight.js core with a handful of languages, to
 * keep the bundle small. Unknown languages and very large blocks are left plain.
 */
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import plaintext from "highlight.js/lib/languages/plaintext";
import python from "highlight.js/lib/languages/python";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";

hljs.registerLanguage("python", python);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("bash", bash);
// highlight.js calls a console transcript "shell"; in chat replies ```shell is a script.
hljs.registerLanguage("console", shell);
hljs.registerLanguage("json", json);
hljs.registerLanguage("sql", sql);
hljs.registerLanguage("plaintext", plaintext);
hljs.registerAliases(["python3", "py3"], { languageName: "python" });
hljs.registerAliases(["node"], { languageName: "javascript" });
hljs.registerAliases(["shell", "shellscript"], { languageName: "bash" });
hljs.registerAliases(["postgresql", "postgres", "sqlite", "mysql"], { languageName: "sql" });

/** Larger blocks are shown plain: highlighting them would hold the main thread too long. */
export const MAX_HIGHLIGHT_CHARS = 64_000;

/**
 * The highlighted HTML of `code` (escaped, with `hljs-*` spans), or "" when the language is not
 * known or the block is too large, in which case the caller shows it escaped and plain.
 */
export function highlightCode(code: string, lang: string): string {
  const name = languageName(lang);
  if (!name || code.length > MAX_HIGHLIGHT_CHARS || !hljs.getLanguage(name)) return "";
  try {
    return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
  } catch (err) {
    console.warn("[ling-notebook] highlighting failed", err);
    return "";
  }
}

const prepared = new Set<string>();

/**
 * Soon, in a task of its own, compiles the grammar of `lang` (once per language): otherwise the
 * first code block of a language to close pays for it in the frame that highlights it, about
 * 15 ms on top of highlighting 12 kB (measured in node). Called while the block is still open.
 */
export function prepareLanguage(lang: string): void {
  const name = languageName(lang);
  if (!name || prepared.has(name) || !hljs.getLanguage(name)) return;
  prepared.add(name);
  setTimeout(() => highlightCode("\n", name), 0);
}

function languageName(lang: string): string {
  return lang.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
}
