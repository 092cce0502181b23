import { afterEach, describe, expect, it, vi } from "vitest";
import app from "../app";
import { ChatView } from "../chat";
import { staticChats } from "../chatcopy";
import type { ChatModelState, ChatTurn } from "../contract";
import { FakeModel, INITIAL_STATE } from "./fake-model";
import { ManualFrames } from "./frames";

const EMPTY: ChatModelState = { name: "notes", chat_id: "box-1", turns: [] };

function turn(reply: number, prompt: string, patch: Partial<ChatTurn> = {}): ChatTurn {
  return { ...INITIAL_STATE, key: `chat:${reply}`, prompt, reply, status: "done", ...patch };
}

function open(state: Partial<ChatModelState> = {}, model = new FakeModel<ChatModelState>(state, EMPTY)) {
  const host = document.createElement("div");
  document.body.append(host);
  const frames = new ManualFrames();
  const view = new ChatView(model, host, { markdown: { schedule: frames.schedule }, now: () => 0 });
  const q = <T extends HTMLElement = HTMLElement>(selector: string) => host.querySelector(selector) as T;
  const all = (selector: string) => [...host.querySelectorAll<HTMLElement>(selector)];
  const input = q<HTMLTextAreaElement>(".ling-chat-input");
  const type = (text: string) => {
    input.value = text;
    input.dispatchEvent(new Event("input"));
  };
  const key = (init: KeyboardEventInit) => {
    const event = new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true, ...init });
    input.dispatchEvent(event);
    return event;
  };
  const answers = () => {
    view.flush();
    return all(".ling-chat-turn .ling-body").map((body) => (body.textContent ?? "").trim());
  };
  return { model, host, view, q, all, input, type, key, answers };
}

afterEach(() => {
  document.body.replaceChildren();
  vi.restoreAllMocks();
});

describe("a chat box", () => {
  it("sends on Enter, keeps Shift+Enter for a new line, and keeps every key from the notebook", () => {
    const { model, input, type, key } = open();
    const notebook = vi.fn();
    document.body.addEventListener("keydown", notebook);
    type("Hello\nthere");
    expect(key({ shiftKey: true }).defaultPrevented).toBe(false); // the textarea's own new line
    expect(model.sent).toEqual([{ type: "hello" }]);
    key({ key: "a" });
    key({});
    expect(model.sent).toEqual([{ type: "hello" }, { type: "send", text: "Hello\nthere" }]);
    expect(input.value).toBe("");
    expect(notebook).not.toHaveBeenCalled();
    expect(input.closest("[data-lm-suppress-shortcuts]")).not.toBeNull();
  });

  it("sends nothing empty, and nothing while an answer streams", () => {
    const { model, type, key, q } = open({ turns: [turn(1, "Q", { status: "streaming" })] });
    type("   ");
    key({});
    type("next");
    key({});
    expect(q<HTMLButtonElement>(".ling-send").disabled).toBe(true);
    expect(model.sent).toEqual([{ type: "hello" }]);
  });

  it("streams each answer into its own reply view, by the answer's number and seq", () => {
    const { model, answers, all } = open({ turns: [turn(1, "First"), turn(2, "Second", { status: "streaming" })] });
    model.message({ type: "snapshot", answers: [{ reply: 1, seq: 3, text: "One", reasoning: "" },
      { reply: 2, seq: 1, text: "Tw", reasoning: "" }] });
    model.message({ type: "delta", reply: 2, seq: 2, content: "o", reasoning: "", elapsed: 1, ttft: 0.1, tokens_per_s: null });
    model.message({ type: "delta", reply: 2, seq: 2, content: "o", reasoning: "", elapsed: 1, ttft: 0.1, tokens_per_s: null });
    expect(answers()).toEqual(["One", "Two"]);
    expect(all(".ling-chat-prompt-text").map((p) => p.textContent)).toEqual(["First", "Second"]);
    expect(all(".ling-chat-turn .ling-stop").map((b) => b.hidden)).toEqual([true, false]);
  });

  it("shows a prompt as text, never as HTML", () => {
    const { all } = open({ turns: [turn(1, "<img src=x onerror=alert(1)>")] });
    expect(all(".ling-chat-prompt-text")[0].textContent).toBe("<img src=x onerror=alert(1)>");
    expect(document.querySelector("img")).toBeNull();
  });

  it("stops from the answer's own Stop, and regenerates the last answer in its place", () => {
    const { model, q, all } = open({ turns: [turn(1, "Q", { status: "streaming" })] });
    expect(q(".ling-regenerate").hidden).toBe(true);
    all(".ling-chat-turn .ling-stop")[0].click();
    expect(model.sent.at(-1)).toEqual({ type: "stop" });
    model.set({ turns: [turn(1, "Q", { status: "stopped" })] });
    q(".ling-regenerate").click();
    expect(model.sent.at(-1)).toEqual({ type: "regenerate" });
    model.set({ turns: [turn(2, "Q", { status: "streaming" })] });
    expect(all(".ling-chat-turn")).toHaveLength(1);
  });

  it("keeps the draft and the focus for the next view of the same box, and goes quiet once replaced", async () => {
    const model = new FakeModel<ChatModelState>({ chat_id: "box-draft" }, EMPTY);
    const first = open({}, model);
    first.input.focus();
    first.type("half a thought");
    first.host.remove(); // the kernel put the output in place again
    first.input.dispatchEvent(new FocusEvent("blur")); // as Chromium tells it during the removal
    await Promise.resolve();
    model.set({ turns: [turn(1, "Q")] });
    expect(model.listenerCount()).toBe(0);
    const second = open({}, model);
    expect(second.input.value).toBe("half a thought");
    expect(document.activeElement).toBe(second.input);
  });

  it("is what the renderer builds for a model with turns", () => {
    const model = new FakeModel<ChatModelState>({}, EMPTY);
    const host = document.createElement("div");
    const cleanup = app.render({ model, el: host });
    expect(host.querySelector(".ling-chat")).not.toBeNull();
    cleanup();
    expect(host.querySelector(".ling-chat")).toBeNull();
  });
});

describe("a notebook that opens with a chat box's output", () => {
  it("keeps its transcript and drops the widget view, leaving other outputs alone", () => {
    const chat = { data: { "application/vnd.jupyter.widget-view+json": { model_id: "m" }, "text/html": "<p>t</p>" },
      metadata: { ling_notebook: { chat: "notes" } } };
    const reply = { data: { "application/vnd.jupyter.widget-view+json": { model_id: "r" } }, metadata: {} };
    type Output = { data: Record<string, unknown>; metadata: Record<string, unknown>; output_type?: string };
    const outputs: Output[] = [chat, reply];
    const set = vi.fn((index: number, output: Output) => {
      outputs[index] = output;
    });
    const cells = { length: 1, get: () => ({ type: "code", outputs: { get length() { return outputs.length; },
      get: (i: number) => outputs[i], set } }) };
    expect(staticChats(cells)).toBe(1);
    expect(outputs[0]).toEqual({ output_type: "display_data", data: { "text/html": "<p>t</p>" },
      metadata: { ling_notebook: { chat: "notes" } } });
    expect(outputs[1]).toBe(reply);
  });
});
