import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../markdown";
import { isSafeUrl, sanitizeToFragment } from "../sanitize";

const DANGEROUS_TAGS = new Set([
  // MathML is allowed (formulas.ts): its elements may carry no link, style or class (checked below).
  "SCRIPT", "IFRAME", "STYLE", "OBJECT", "EMBED", "SVG", "IMG", "FORM", "INPUT", "BUTTON",
  "BASE", "META", "LINK", "TEMPLATE", "VIDEO", "AUDIO", "SOURCE",
]);

/** Fails unless nothing in `fragment` can run code, load a resource or navigate unsafely. */
function expectInert(fragment: DocumentFragment): void {
  const holder = document.createElement("div");
  holder.append(fragment);
  for (const node of holder.querySelectorAll("*")) {
    expect(DANGEROUS_TAGS.has(node.tagName.toUpperCase()), `<${node.tagName}> survived`).toBe(false);
    for (const attr of node.attributes) {
      const name = attr.name.toLowerCase();
      expect(name.startsWith("on"), `${name} survived on <${node.tagName}>`).toBe(false);
      expect(["src", "srcset", "action", "formaction", "xlink:href", "data"]).not.toContain(name);
      if (name === "href") {
        const scheme = /^([^:/?#]*):/.exec(attr.value.replace(/[\u0000-\u0020]/g, ""));
        expect(scheme === null || ["http", "https", "mailto"].includes(scheme[1].toLowerCase()), attr.value).toBe(true);
      }
      if (name === "style") expect(attr.value).toMatch(/^text-align:(left|right|center)$/);
      if (node.namespaceURI?.endsWith("MathML")) expect(["href", "style", "class"]).not.toContain(name);
    }
  }
}

function html(fragment: DocumentFragment): HTMLDivElement {
  const holder = document.createElement("div");
  holder.append(fragment);
  return holder;
}

describe("Markdown from the model", () => {
  it.each([
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle/></svg>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<style>body { display: none }</style>",
    "<a href=\"javascript:alert(1)\">click</a>",
    "text <b onmouseover=alert(1)>bold</b> more",
  ])("shows raw HTML as text: %s", (src) => {
    const out = html(renderMarkdown(src, true));
    expect(out.textContent).toContain(src.slice(0, 8));
    // Only paragraphs, and links where a URL was written out as text.
    expect(out.querySelectorAll("*:not(p):not(a)")).toHaveLength(0);
    expectInert(renderMarkdown(src, true));
  });

  it("keeps raw HTML inside code as code", () => {
    const out = html(renderMarkdown("```html\n<script>alert(1)</script>\n```\n\nand `<img onerror=x>`", true));
    expect(out.querySelector("pre code")?.textContent).toBe("<script>alert(1)</script>\n");
    expect(out.querySelector("p code")?.textContent).toBe("<img onerror=x>");
    expectInert(renderMarkdown("```html\n<script>alert(1)</script>\n```", true));
  });

  it.each([
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&#58;alert(1))",
    "[x](java%0Ascript:alert(1))",
    "[x](%6A%61vascript:alert(1))",
    "[x](\u0001javascript:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "![x](javascript:alert(1))",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
  ])("leaves no dangerous link: %s", (src) => {
    const fragment = renderMarkdown(src, true);
    const out = html(fragment.cloneNode(true) as DocumentFragment);
    for (const a of out.querySelectorAll("a[href]")) expect(isSafeUrl(a.getAttribute("href") ?? "")).toBe(true);
    expect(out.querySelector("a[href*='script' i], a[href^='data' i], a[href^='file' i]")).toBeNull();
    expectInert(fragment);
  });

  it("keeps normal links and opens them in a new tab without an opener", () => {
    const out = html(renderMarkdown("[docs](https://example.com/a?b=1 \"Docs\"), <https://x.org>, see http://y.net/z and mail a@b.co", true));
    const links = [...out.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual([
      "https://example.com/a?b=1",
      "https://x.org",
      "http://y.net/z",
      "mailto:a@b.co",
    ]);
    for (const a of links) {
      expect(a.getAttribute("target")).toBe("_blank");
      expect(a.getAttribute("rel")).toBe("noopener noreferrer");
    }
    expect(links[0].title).toBe("Docs");
  });

  it("shows images as links instead of loading them", () => {
    const out = html(renderMarkdown("![a chart](https://example.com/chart.png)", true));
    expect(out.querySelector("img")).toBeNull();
    const link = out.querySelector("a.ling-image-link");
    expect(link?.getAttribute("href")).toBe("https://example.com/chart.png");
    expect(link?.textContent).toBe("[image: a chart]");
  });

  it("renders GFM tables with their alignment, headings, lists, emphasis and inline code", () => {
    const out = html(renderMarkdown("# T\n\n| a | b |\n|--:|:-:|\n| 1 | 2 |\n\n- *em* **strong** ~~gone~~ `code`", true));
    expect(out.querySelector("h1")?.textContent).toBe("T");
    expect(out.querySelector("th")?.getAttribute("style")).toBe("text-align:right");
    expect(out.querySelectorAll("td")).toHaveLength(2);
    expect(out.querySelector("li em")?.textContent).toBe("em");
    expect(out.querySelector("li strong")?.textContent).toBe("strong");
    expect(out.querySelector("li s")?.textContent).toBe("gone");
    expect(out.querySelector("li code")?.textContent).toBe("code");
  });

  it("highlights code of known languages and leaves unknown ones plain", () => {
    const py = html(renderMarkdown("```python\ndef f():\n    return 1\n```", true));
    expect(py.querySelector("code.language-python .hljs-keyword")?.textContent).toBe("def");
    expect(py.querySelector(".hljs-title.function_")?.textContent).toBe("f");
    const plain = html(renderMarkdown("```python\ndef f(): pass\n```", false));
    expect(plain.querySelector(".hljs-keyword")).toBeNull();
    const unknown = html(renderMarkdown("```brainfuck\n+++\n```", true));
    expect(unknown.querySelector("code")?.innerHTML).toBe("+++\n");
    for (const lang of ["js", "ts", "bash", "sh", "shell", "zsh", "json", "sql", "py"]) {
      const out = html(renderMarkdown(`\`\`\`${lang}\nselect "x" -- y\n\`\`\``, true));
      expect(out.querySelector("code [class^='hljs']"), lang).not.toBeNull();
    }
    const session = html(renderMarkdown("```console\n$ ls -l\n```", true));
    expect(session.querySelector(".hljs-meta")?.textContent?.trim()).toBe("$");
  });
});

describe("the DOMPurify wall", () => {
  it.each([
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
    "<math><mrow href=\"javascript:alert(1)\" style=\"color:red\" class=\"ling-error\"><mi>x</mi></mrow></math>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math><mtext><mglyph><svg><mtext><style><path id=\"</style><img onerror=alert(1) src>\">",
    "<iframe src=\"https://e.example\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<style>* { display: none }</style>",
    "<object data=\"x.swf\"></object><embed src=\"x\">",
    "<form action=\"javascript:alert(1)\"><button formaction=\"javascript:alert(1)\">go</button></form>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"java&#x09;script:alert(1)\">x</a>",
    "<a href=\"java\nscript:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html,<script>alert(1)</script>\">x</a>",
    "<a href=\"java%09script:alert(1)\">x</a>",
    "<p onclick=\"alert(1)\" style=\"position:fixed;inset:0\">cover</p>",
    "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "<base href=\"https://evil.example/\"><meta http-equiv=refresh content=\"0;url=https://evil.example\">",
  ])("makes %s inert", (dirty) => {
    expectInert(sanitizeToFragment(dirty));
  });

  it("keeps what our renderer produces", () => {
    const out = html(sanitizeToFragment(
      '<p><a href="https://ok.example" onclick="x()">ok</a> <span class="evil hljs-string">s</span></p>' +
        '<table><tr><td style="text-align:center">1</td><td style="color:red">2</td></tr></table>',
    ));
    const a = out.querySelector("a");
    expect(a?.getAttribute("href")).toBe("https://ok.example");
    expect(a?.getAttribute("onclick")).toBeNull();
    expect(a?.getAttribute("rel")).toBe("noopener noreferrer");
    expect(out.querySelector("span")?.className).toBe("hljs-string");
    const cells = out.querySelectorAll("td");
    expect(cells[0].getAttribute("style")).toBe("text-align:center");
    expect(cells[1].hasAttribute("style")).toBe(false);
  });
});

describe("isSafeUrl", () => {
  it.each(["https://a.b/c", "http://a.b", "mailto:x@y.z", "/path", "rel/path:colon", "#frag", "?q=1", "//host/x", "HTTPS://A.B"])(
    "allows %s",
    (url) => expect(isSafeUrl(url)).toBe(true),
  );
  it.each([
    "javascript:alert(1)", "JAVASCRIPT:x", " javascript:x", "java\tscript:x", "java%09script:x", "%6Aavascript:x",
    "vbscript:x", "data:text/html,x", "data:image/png;base64,x", "file:///etc", "java\u200bscript:x", "blob:https://a/b",
  ])("refuses %s", (url) => expect(isSafeUrl(url)).toBe(false));
});
