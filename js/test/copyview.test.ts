import { describe, expect, it, vi } from "vitest";
import { drawCopy } from "../copyview";
import { ManualFrames } from "./frames";

const chunk = (i: number): string => `<div class="ling-chunk"><p>block ${i}</p><pre><code>x = ${i}</code></pre></div>`;
const copy = (chunks: number, after = ""): string =>
  '<style>.ling-static{color:red}</style><div class="ling-static"><div class="ling-status">m</div>' +
  `<div class="ling-body">${Array.from({ length: chunks }, (_, i) => chunk(i)).join("")}${after}</div></div>`;

function texts(host: HTMLElement): string[] {
  return [...host.querySelectorAll(".ling-chunk p")].map((p) => p.textContent ?? "");
}

describe("drawCopy", () => {
  it("parses in the next frame, then puts the chunks in place a few per frame, in order", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    host.textContent = "what was drawn before";
    drawCopy(host, copy(10, '<p class="after">note</p>'), null, "", frames.schedule, 4);
    expect(host.textContent).toBe("what was drawn before"); // no empty frame in between
    frames.frame();
    expect(host.querySelector("style")?.textContent).toBe(".ling-static{color:red}");
    expect(host.querySelector(".ling-status")?.textContent).toBe("m");
    expect(texts(host)).toEqual(["block 0", "block 1", "block 2", "block 3"]);
    frames.frame();
    expect(texts(host)).toHaveLength(8);
    expect(frames.drain()).toBe(1);
    expect(texts(host)).toEqual(Array.from({ length: 10 }, (_, i) => `block ${i}`));
    // What came after the chunks in their parent stays after them.
    expect(host.querySelector(".ling-body")?.lastElementChild?.className).toBe("after");
    expect(host.innerHTML).toBe(copy(10, '<p class="after">note</p>'));
  });

  it("draws a copy without chunks whole, in one frame", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    drawCopy(host, '<div class="ling-static"><table><tr><td>1</td></tr></table></div>', null, "", frames.schedule);
    expect(frames.drain()).toBe(1);
    expect(host.querySelector("td")?.textContent).toBe("1");
  });

  it("moves a chunk inside a chunk with its parent", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    const html = '<div class="ling-chunk"><p>a</p><div class="ling-chunk"><p>b</p></div></div>';
    drawCopy(host, html, null, "", frames.schedule, 1);
    frames.drain();
    expect(host.innerHTML).toBe(html);
  });

  it("stops when cancelled, and a new drawing replaces the one before", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    const stop = drawCopy(host, copy(10), null, "", frames.schedule, 2);
    frames.frame();
    stop();
    expect(frames.waiting).toBe(0);
    expect(texts(host)).toHaveLength(2);
    drawCopy(host, copy(3), null, "", frames.schedule, 2);
    frames.drain();
    expect(texts(host)).toEqual(["block 0", "block 1", "block 2"]);
  });

  it("sanitizes an untrusted copy in the frame that parses it, and draws what the sanitizer gave", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    const given: string[] = [];
    const html = copy(2, '<script>alert(3)</script><div class="ling-chunk"><p>block 2</p></div>');
    drawCopy(host, html, (dirty) => {
      given.push(dirty);
      return dirty.replace(/<script>.*?<\/script>/g, "");
    }, "", frames.schedule);
    expect(given).toEqual([]);
    frames.drain();
    expect(given).toEqual([html]);
    expect(host.innerHTML).toBe(copy(2, '<div class="ling-chunk"><p>block 2</p></div>'));
    expect(texts(host)).toEqual(["block 0", "block 1", "block 2"]);
  });

  it("opens every link in a new tab without access to this one, whatever target it named", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    const links = '<a href="https://example.org/" target="w">w</a><a href="data.csv">d</a><a>no href</a>';
    drawCopy(host, `<div class="ling-chunk"><p>${links}</p></div>`, null, "", frames.schedule);
    frames.drain();
    const attrs = [...host.querySelectorAll("a")].map((a) => [a.getAttribute("target"), a.getAttribute("rel")]);
    expect(attrs).toEqual([["_blank", "noopener noreferrer"], ["_blank", "noopener noreferrer"], [null, null]]);
  });

  it("shows the plain text when the sanitizer fails", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    drawCopy(host, copy(2), () => {
      throw new Error("no");
    }, "the plain text", frames.schedule);
    frames.drain();
    expect(host.innerHTML).toBe("the plain text");
    expect(error).toHaveBeenCalledOnce();
    error.mockRestore();
  });

  it("draws a trusted copy inert: its script does not run", () => {
    const frames = new ManualFrames();
    const host = document.createElement("div");
    document.body.append(host);
    const ran = (window as unknown as { __ran?: boolean });
    drawCopy(host, '<div class="ling-chunk"><script>window.__ran = true</script><p>z</p></div>', null, "", frames.schedule);
    frames.drain();
    expect(ran.__ran).toBeUndefined();
    expect(host.querySelector("p")?.textContent).toBe("z");
    host.remove();
  });
});
