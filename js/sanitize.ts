/**
 * The last wall between model output and the page: every HTML fragment passes through here.
 *
 * Owns: the DOMPurify configuration (an allowlist of the tags and attributes our Markdown renderer
 * produces), the URL policy shared with the Markdown parser, and making links open safely in a new tab.
 * Does not own: Markdown (markdown.ts escapes raw HTML before it ever gets here).
 */
import createDOMPurify, { type Config, type DOMPurify } from "dompurify";

/** Tags that markdown-it and highlight.js produce for us; anything else is dropped. */
const ALLOWED_TAGS = [
  "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
  "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
];
/** MathML that Temml makes (formulas.ts): the same allowlist as the static copy's (render.py). */
const MATH_TAGS = [
  "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "munder", "mover",
  "munderover", "mfrac", "msqrt", "mroot", "mstyle", "merror", "mpadded", "mphantom", "mtable", "mtr", "mtd",
  "mlabeledtr", "menclose", "mmultiscripts", "mprescripts", "none",
];
const MATH_ATTR = [
  "display", "displaystyle", "scriptlevel", "mathvariant", "mathsize", "mathcolor", "stretchy", "fence",
  "separator", "lspace", "rspace", "minsize", "maxsize", "movablelimits", "accent", "accentunder", "symmetric",
  "largeop", "form", "linethickness", "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines",
  "rowlines", "columnspan", "rowspan", "frame", "framespacing", "equalrows", "equalcolumns", "width", "height",
  "depth", "voffset", "notation", "align", "open", "close", "separators",
];
const MATHML = "http://www.w3.org/1998/Math/MathML";
const MATH_REFUSED_ATTR = new Set(["href", "class", "style"]);
const ALLOWED_ATTR = ["href", "title", "class", "start", "style", ...MATH_ATTR];

/** URL schemes a link may use. Everything without a scheme (relative, `#anchor`) is allowed too. */
const SAFE_SCHEMES = new Set(["http", "https", "mailto"]);

/**
 * DOMPurify's check on href/src: an allowed scheme, or no colon before the first `/`, `?` or `#`
 * (a relative URL). DOMPurify strips whitespace and control characters before testing.
 */
const SAFE_URI = /^(?:(?:https?|mailto):|[^:/?#]*(?:[/?#]|$))/i;

// Classes from highlight.js (`hljs-title function_`), markdown-it (`language-py`) and ourselves.
const SAFE_CLASS = /^(?:language-[\w+#.-]+|hljs(?:-[\w-]+)?|[a-z]+_|ling-[\w-]+)$/;
const SAFE_STYLE = /^text-align:\s*(?:left|right|center);?$/i;

// Characters a browser ignores inside a URL scheme (`java\tscript:`) or that hide one.
// eslint-disable-next-line no-control-regex
const URL_NOISE = /[\u0000-\u0020\u007f-\u00a0\u1680\u180e\u2000-\u200f\u2028\u2029\u205f\u3000\ufeff]/g;

function schemeOf(url: string): string | null {
  const m = /^([^:/?#]*):/.exec(url.replace(URL_NOISE, ""));
  return m ? m[1].toLowerCase() : null;
}

/**
 * True when `url` may be a link target: http(s), mailto, or relative. Percent-encoded and
 * whitespace-obfuscated schemes are decoded before judging, so `java%09script:` is refused too.
 */
export function isSafeUrl(url: string): boolean {
  let decoded = url;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    // A malformed escape: judge the raw text.
  }
  for (const candidate of [url, decoded]) {
    const scheme = schemeOf(candidate);
    if (scheme !== null && !SAFE_SCHEMES.has(scheme)) return false;
  }
  return true;
}

const CONFIG: Config = {
  ALLOWED_TAGS: [...ALLOWED_TAGS, ...MATH_TAGS],
  ALLOWED_ATTR,
  ALLOWED_URI_REGEXP: SAFE_URI,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
};

let purifier: DOMPurify | null = null;

function getPurifier(): DOMPurify {
  if (purifier) return purifier;
  // Our own instance, so our hooks never affect anyone else's DOMPurify.
  const p = createDOMPurify(window);
  p.addHook("uponSanitizeAttribute", (node, data) => {
    if (node.namespaceURI === MATHML && MATH_REFUSED_ATTR.has(data.attrName)) {
      // From TeX these would be links and restyling (\href, \class, \style), which formulas.ts refuses.
      data.keepAttr = false;
    } else if (data.attrName === "class") {
      const kept = data.attrValue.split(/\s+/).filter((c) => SAFE_CLASS.test(c));
      if (kept.length) data.attrValue = kept.join(" ");
      else data.keepAttr = false;
    } else if (data.attrName === "style") {
      // markdown-it aligns table cells with `style="text-align:..."`; nothing else is kept.
      data.keepAttr = SAFE_STYLE.test(data.attrValue.trim());
    } else if (data.attrName === "href" && !isSafeUrl(data.attrValue)) {
      data.keepAttr = false;
    }
  });
  p.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A") {
      const a = node as Element;
      if (a.hasAttribute("href")) {
        a.setAttribute("target", "_blank");
        a.setAttribute("rel", "noopener noreferrer");
      }
    }
  });
  purifier = p;
  return p;
}

/** Sanitizes an HTML string into a fragment of the current document, ready to insert. */
export function sanitizeToFragment(html: string): DocumentFragment {
  return getPurifier().sanitize(html, { ...CONFIG, RETURN_DOM_FRAGMENT: true });
}
