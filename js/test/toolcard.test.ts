import { afterEach, describe, expect, it } from "vitest";
import type { CallChange, DeltaMessage, LingModelState } from "../contract";
import { LingView } from "../view";
import { FakeModel } from "./fake-model";
import { ManualFrames } from "./frames";

function open(state: Partial<LingModelState> = { status: "streaming" }) {
  const model = new FakeModel(state);
  const host = document.createElement("div");
  document.body.append(host);
  const frames = new ManualFrames();
  let clock = 0;
  const view = new LingView(model, host, { markdown: { schedule: frames.schedule }, now: () => clock });
  const all = (selector: string) => Array.from(host.querySelectorAll<HTMLElement>(selector));
  return { model, host, view, all, advance: (ms: number) => (clock += ms) };
}

function delta(seq: number, content: string, calls?: CallChange[]): DeltaMessage {
  return { type: "delta", seq, content, reasoning: "", elapsed: 1, ttft: 0.5, tokens_per_s: null, calls };
}

/** The reply's parts as the user sees them, in order: text segments and cards. */
function order(host: HTMLElement): string[] {
  return Array.from(host.querySelectorAll<HTMLElement>(".ling-parts > *"))
    .filter((node) => node.textContent !== "")
    .map((node) => (node.classList.contains("ling-tool") ? `card:${node.querySelector(".ling-tool-name")?.textContent}` : `text:${node.textContent?.trim()}`));
}

afterEach(() => document.body.replaceChildren());

describe("tool cards in the live view", () => {
  it("appear when the name arrives, grow with the arguments, and sit between the text parts", () => {
    const { model, host, view, all } = open();
    model.message(delta(1, "Let me look."));
    model.message(delta(2, "", [{ n: 0, id: "c0", name: "lookup", state: "arguments", arguments: "" }]));
    expect(all(".ling-tool")).toHaveLength(1);
    expect(all(".ling-tool-state")[0].textContent).toBe("receiving arguments…");
    model.message(delta(3, "", [{ n: 0, state: "arguments", arguments: '{"ke' }]));
    model.message(delta(4, "", [{ n: 0, state: "arguments", arguments: 'y": 1}' }]));
    expect(all(".ling-tool-args")[0].textContent).toBe('{"key": 1}');
    model.message(delta(5, "", [{ n: 0, state: "running", shown: '{\n  "key": 1\n}', seconds: 0 }]));
    expect(all(".ling-tool-args")[0].textContent).toBe('{\n  "key": 1\n}');
    expect(all(".ling-tool-state")[0].textContent).toBe("running · 0.0 s");
    model.message(delta(6, "", [{ n: 0, state: "done", seconds: 0.25, result: "<img src=x onerror=alert(1)>", output: "hi\n" }]));
    model.message(delta(7, "\n\nThe answer."));
    view.flush();
    expect(all(".ling-tool img")).toHaveLength(0);
    expect(all(".ling-tool-result")[0].textContent).toBe("<img src=x onerror=alert(1)>");
    expect(all(".ling-tool-state")[0].textContent).toBe("done · 0.3 s");
    expect(order(host)).toEqual(["text:Let me look.", "card:lookup", "text:The answer."]);
  });

  it("a snapshot draws the same parts in the same order", () => {
    const { model, host, view } = open();
    model.message({
      type: "snapshot", seq: 3, text: "", reasoning: "",
      parts: [
        { kind: "text", text: "Before." },
        { kind: "call", n: 0, id: "c0", name: "add", state: "error", arguments: "{", shown: "{", error: "Invalid arguments" },
        { kind: "text", text: "\n\nAfter." },
      ],
    });
    view.flush();
    expect(order(host)).toEqual(["text:Before.", "card:add", "text:After."]);
  });

  it("asks before running when approval is wanted, and sends the choice", () => {
    const { model, all } = open();
    model.message(delta(1, "", [{ n: 0, id: "c7", name: "rm", state: "approval", arguments: "{}" }]));
    const run = all(".ling-tool-run")[0] as HTMLButtonElement;
    expect(run.closest<HTMLElement>(".ling-tool-decide")?.hidden).toBe(false);
    run.click();
    expect(model.sent).toContainEqual({ type: "tool", call: "c7", run: true });
    expect(run.closest<HTMLElement>(".ling-tool-decide")?.hidden).toBe(true);
  });
});
