/** Markdown the way chat models write it, for the splitter and renderer tests. */

export const CHAT_REPLY = `# Getting started with pandas

Pandas is a library for **tabular data**. Here is what you need:
- Python 3.10 or newer
- a terminal

## Installing

Run this in a terminal:
\`\`\`bash
pip install pandas

# check it worked
python -c "import pandas; print(pandas.__version__)"
\`\`\`

Then, in Python:

\`\`\`python
import pandas as pd


df = pd.DataFrame({"a": [1, 2, 3]})
print(df.describe())
\`\`\`

### Steps

1. Load the data:

   \`\`\`python
   df = pd.read_csv("data.csv")

   df.head()
   \`\`\`

2. Clean it up.
   Drop the rows you don't need.

3. Plot it with \`df.plot()\`.

| Function | What it does | Speed |
| --- | :---: | ---: |
| \`read_csv\` | reads a CSV file | fast |
| \`describe\` | summary statistics | fast |

> **Note:** pandas copies data a lot.
> Use \`inplace\` sparingly.

~~~
A tilde fence

with a blank line
~~~

    indented code

    more indented code

* * *

Setext heading
--------------

Final words with a [link](https://pandas.pydata.org) and _emphasis_.
`;

export const EDGE_CASES = `Para one
still para one

- a
- b

  continued b

- c
    - nested

Para after list
\`\`\`\`md
\`\`\`js
inner fence, not closing the outer
\`\`\`
\`\`\`\`
# Heading right after
text right after heading
- list interrupting a paragraph? no: after a heading line
+ plus list

1) paren list
2) second

Title
=====

\`\`\`
unclosed fence at the end

with blank lines
`;

/** A long, varied reply (around `approxChars` characters) with some deliberately huge constructs. */
export function longReply(approxChars: number): string {
  const parts: string[] = [];
  let size = 0;
  let i = 0;
  while (size < approxChars) {
    let part: string;
    switch (i % 7) {
      case 0:
        part = `## Section ${i}\n\nSome text for section ${i}, with \`code\` and **bold** words.\nA second line.\n`;
        break;
      case 1:
        part = Array.from({ length: 40 }, (_, k) => `- item ${k} of list ${i}`).join("\n") + "\n";
        break;
      case 2:
        part = "```python\n" + Array.from({ length: 60 }, (_, k) => `x_${k} = ${k} * 2  # line ${k}`).join("\n") + "\n```\n";
        break;
      case 3:
        part = "| a | b |\n|---|---|\n" + Array.from({ length: 30 }, (_, k) => `| ${k} | ${k * k} |`).join("\n") + "\n";
        break;
      case 4:
        part = Array.from({ length: 8 }, (_, k) => `${k + 1}. step ${k}\n\n   detail ${k}`).join("\n\n") + "\n";
        break;
      case 5:
        part = "> quoted line one\n> quoted line two\n";
        break;
      default:
        part = `Plain paragraph ${i}. `.repeat(20) + "\n";
    }
    parts.push(part);
    size += part.length + 1;
    i++;
  }
  return parts.join("\n");
}

/** A deterministic random number generator (xorshift32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = (Math.imul(seed, 0x9e3779b1) ^ 0x85ebca6b) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

/** Splits `text` into pieces of random length (1..maxPiece), deterministic for a seed. */
export function randomPieces(text: string, seed: number, maxPiece = 40): string[] {
  const next = seededRandom(seed);
  const pieces: string[] = [];
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(next() * maxPiece);
    pieces.push(text.slice(i, i + n));
    i += n;
  }
  return pieces;
}

/**
 * A random document (deterministic for a seed) of the constructs whose ends are easy to get wrong:
 * fences and fence-like lines indented 0-6 spaces or by tabs, fences inside list items and block
 * quotes (also nested), lists, paragraphs, headings, tables, with LF, CRLF or lone CR line endings.
 * With `long`, code blocks run to dozens of lines, to exercise the limits.
 */
export function fencedDocument(seed: number, long = false): string {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const indent = () => pick(["", "", " ", "  ", "   ", "    ", "     ", "      ", "\t", " \t"]);
  const fenceLine = (marker: string) => indent() + marker + pick(["", "", " ", "python", " js"]);

  function fence(): string[] {
    const marker = pick(["```", "```", "~~~", "````"]);
    const lines = [pick(["", "", " ", "  ", "   "]) + marker + pick(["", "python", "bash"])];
    const count = long ? 10 + Math.floor(next() * 60) : Math.floor(next() * 6);
    for (let i = 0; i < count; i++) {
      lines.push(pick(["x = 1", "    return x", "", '    """Doc.', fenceLine(marker), fenceLine("```"), "\tindented()", "> not a quote"]));
    }
    if (next() < 0.85) lines.push(fenceLine(marker.slice(0, 3) + pick(["", marker[0]])));
    return lines;
  }

  function block(depth: number): string[] {
    const kind = Math.floor(next() * (depth < 2 ? 9 : 5));
    switch (kind) {
      case 0:
      case 1:
        return fence();
      case 2:
        return [pick(["A paragraph.", "Text with `code`", "More *text*"]), ...(next() < 0.4 ? [indent() + "lazy line"] : [])];
      case 3:
        return [pick(["# Heading", "## Sub", "Title", "---", "***"])];
      case 4:
        return ["| a | b |", "|---|---|", "| 1 | 2 |"];
      case 5:
      case 6: {
        // A list item: the marker, then its content indented to the content column (or, in short
        // documents, sometimes not: a lazy line, or one that ends the item).
        const marker = pick(["- ", "* ", "1. ", "2) ", "10. ", "-   "]);
        const body = block(depth + 1);
        const pad = " ".repeat(marker.length);
        return body.map((line, i) => (i === 0 ? marker : long || next() < 0.95 ? pad : "") + line);
      }
      default: {
        const body = block(depth + 1);
        return body.map((line) => pick(["> ", "> ", ">", " > "]) + line);
      }
    }
  }

  const lines: string[] = [];
  const count = 2 + Math.floor(next() * 8);
  for (let i = 0; i < count; i++) {
    lines.push(...block(0));
    if (next() < 0.6) lines.push("");
  }
  const style = pick(["\n", "\n", "\r\n", "\r", "mixed"]);
  let text = "";
  for (const line of lines) text += line + (style === "mixed" ? pick(["\n", "\r\n", "\r"]) : style);
  return text;
}
