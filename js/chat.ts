/**
 * One view of a chat box widget (ling_notebook/chat_widget.py): the turns so far, each a prompt and its
 * answer, and a text box to ask the next one.
 *
 * Each answer is a `LingView`, the reply view itself, driven by a `TurnModel` that plays its widget model:
 * the chat's deltas and snapshot, which name the answer they belong to, are handed to that answer's view
 * as its own. So an answer streams, renders, stops and shows its tool cards exactly as a `%%ling` reply.
 *
 * Owns: the turns' order, the text box (Enter sends, Shift+Enter is a new line, and no key typed in the box
 * reaches the notebook's shortcuts), Regenerate (Stop is each answer's own, as on a reply), the draft (kept for the next view of this box in the
 * page: the kernel puts the output in place again after each answer, which makes a new view), and cleanup.
 */
import {
  ACTIVE_STATUSES,
  type ChatModelState,
  type ChatTurn,
  type ChatViewMessage,
  type LingModelState,
  type WidgetModel,
} from "./contract";
import { button, copyText, el, isNumber, keepFocus, logError, show } from "./pane";
import { type LingViewOptions, LingView, listen, unlisten } from "./view";

export type ChatModel = WidgetModel<ChatModelState>;

type Callback = (...args: unknown[]) => void;

/** What the box holds between its views in one page, by the box's `chat_id`. */
interface Draft {
  text: string;
  focused: boolean;
}

const drafts = new Map<string, Draft>();

const COPY_FEEDBACK_MS = 1500;

/** Plays the widget model of one answer for its `LingView`: its state, its messages, its Stop. */
export class TurnModel implements WidgetModel<LingModelState> {
  private state: LingModelState;
  private readonly handlers = new Map<string, Set<Callback>>();

  constructor(
    state: LingModelState,
    private readonly forward: (message: ChatViewMessage) => void,
  ) {
    this.state = state;
  }

  get<K extends keyof LingModelState>(key: K): LingModelState[K] {
    return this.state[key];
  }

  on(event: string, callback: Callback): void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(callback);
  }

  off(event?: string | null, callback?: Callback | null): void {
    if (event && callback) this.handlers.get(event)?.delete(callback);
  }

  /** The answer's Stop and tool decisions go to the chat; its hello and bye are the chat view's own. */
  send(content: unknown): void {
    const type = (content as { type?: unknown } | null)?.type;
    if (type === "stop" || type === "tool") this.forward(content as ChatViewMessage);
  }

  setState(state: LingModelState): void {
    this.state = state;
    this.emit("change:status");
  }

  message(content: unknown): void {
    this.emit("msg:custom", content);
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const callback of [...(this.handlers.get(event) ?? [])]) callback(...args);
  }
}

/** One turn in the box: the prompt (plain text, with Copy) and the answer's view. */
class TurnView {
  readonly root: HTMLDivElement;
  readonly model: TurnModel;
  private readonly answer: LingView;
  private copyTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(turn: ChatTurn, forward: (message: ChatViewMessage) => void, options: LingViewOptions) {
    this.root = el("div", "ling-chat-turn");
    const asked = el("div", "ling-chat-prompt", this.root);
    const head = el("div", "ling-chat-prompt-head", asked);
    el("span", "ling-chat-you", head).textContent = "You";
    const copy = button("ling-copy", "Copy", "Copy this message", head);
    const text = el("div", "ling-chat-prompt-text", asked);
    text.textContent = String(turn.prompt ?? "");
    copy.addEventListener("click", async () => {
      const ok = await copyText(text.textContent ?? "");
      copy.textContent = ok ? "Copied" : "Copy failed";
      if (this.copyTimer !== null) clearTimeout(this.copyTimer);
      this.copyTimer = setTimeout(() => {
        this.copyTimer = null;
        copy.textContent = "Copy";
      }, COPY_FEEDBACK_MS);
    });
    this.model = new TurnModel(stateOf(turn), forward);
    this.answer = new LingView(this.model, this.root, options);
  }

  /** Renders all received text now (tests). */
  flush(): void {
    this.answer.flush();
  }

  dispose(): void {
    if (this.copyTimer !== null) clearTimeout(this.copyTimer);
    this.answer.dispose();
    this.root.remove();
  }
}

function stateOf(turn: ChatTurn): LingModelState {
  return {
    status: turn.status ?? "waiting",
    waiting_for: turn.waiting_for ?? null,
    model_name: turn.model_name ?? "",
    ttft: turn.ttft ?? null,
    tokens_per_s: turn.tokens_per_s ?? null,
    elapsed: turn.elapsed ?? null,
    usage: turn.usage ?? null,
    finish_reason: turn.finish_reason ?? null,
    error: turn.error ?? null,
  };
}

export class ChatView {
  readonly root: HTMLDivElement;
  private readonly model: ChatModel;
  private readonly host: HTMLElement;
  private readonly options: LingViewOptions;
  private readonly log: HTMLDivElement;
  private readonly empty: HTMLDivElement;
  private readonly input: HTMLTextAreaElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly regenerateButton: HTMLButtonElement;
  private readonly titleEl: HTMLSpanElement;
  /** The answers' views, by the kernel's number of the answer (a regenerated turn has a new one). */
  private readonly turns = new Map<number, TurnView>();
  private readonly listeners: Array<[string, (...args: unknown[]) => void]> = [];
  private readonly draft: Draft;
  private shown = false;
  private disposed = false;

  constructor(model: ChatModel, host: HTMLElement, options: LingViewOptions = {}) {
    this.model = model;
    this.host = host;
    this.options = options;
    this.root = el("div", "ling-chat");
    // JupyterLab's and Notebook 7's shortcuts are matched from the key's target up to the first element
    // with this attribute: none of them sees a key typed in the box (Escape, A, B, D D, Shift+Enter...).
    this.root.dataset.lmSuppressShortcuts = "true";
    const bar = el("div", "ling-chat-bar", this.root);
    this.titleEl = el("span", "ling-chat-title", bar);
    const actions = el("span", "ling-chat-actions", bar);
    this.regenerateButton = button("ling-regenerate", "Regenerate", "Ask the last message again", actions);
    this.log = el("div", "ling-chat-log", this.root);
    this.empty = el("div", "ling-chat-empty", this.log);
    this.empty.textContent = "No messages yet: ask something below.";
    const composer = el("div", "ling-chat-composer", this.root);
    this.input = el("textarea", "ling-chat-input", composer);
    this.input.rows = 2;
    this.input.placeholder = "Message (Enter sends, Shift+Enter for a new line)";
    this.input.setAttribute("aria-label", "Message to the model");
    this.sendButton = button("ling-send", "Send", "Send the message", composer);

    const id = String(model.get("chat_id") ?? "");
    this.draft = drafts.get(id) ?? { text: "", focused: false };
    drafts.set(id, this.draft);
    this.input.value = this.draft.text;

    this.input.addEventListener("keydown", (event) => {
      event.stopPropagation(); // typing here is never a notebook command
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener("input", () => {
      this.draft.text = this.input.value;
      this.refreshBar();
    });
    this.input.addEventListener("focus", () => (this.draft.focused = true));
    this.input.addEventListener("blur", () => {
      // Taken out of the page when the kernel puts a new view in place is not the user leaving the box
      // (Chromium tells a blur then, during the removal).
      queueMicrotask(() => {
        if (this.input.isConnected) this.draft.focused = false;
      });
    });
    this.sendButton.addEventListener("click", () => this.send());
    this.regenerateButton.addEventListener("click", () => {
      keepFocus(this.regenerateButton, this.input);
      this.regenerateButton.disabled = true;
      this.sendTo({ type: "regenerate" });
    });

    const isDisposed = () => this.disposed;
    this.listeners.push(listen(model, "msg:custom", (msg) => this.onMessage(msg), isDisposed));
    this.listeners.push(listen(model, "change:turns", () => this.onTurns(), isDisposed));
    this.listeners.push(listen(model, "change:name", () => this.refreshBar(), isDisposed));
    host.append(this.root);
    this.onTurns();
    this.sendTo({ type: "hello" });
  }

  /** Renders all received text now (tests). */
  flush(): void {
    for (const turn of this.turns.values()) turn.flush();
  }

  /** Removes every listener, view and element. Never throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      unlisten(this.model, this.listeners);
      for (const turn of this.turns.values()) turn.dispose();
      this.turns.clear();
      this.root.remove();
    } catch (err) {
      logError("cleanup failed", err);
    }
  }

  private sendTo(message: ChatViewMessage): void {
    try {
      this.model.send(message);
    } catch (err) {
      logError(`could not send ${message.type}`, err);
    }
  }

  private turnList(): ChatTurn[] {
    const turns = this.model.get("turns");
    return Array.isArray(turns) ? turns.filter((t) => t && typeof t === "object" && isNumber(t.reply)) : [];
  }

  /**
   * A view whose output was put in place again stops working: the kernel's update_display makes the widget
   * manager render a new view in the output and take the old one's element out, without disposing it. Not
   * a view taken out of the page with its whole cell (JupyterLab's windowing): its element keeps its parent.
   */
  private replaced(): boolean {
    if (this.host.parentNode) {
      // The first news from the kernel (the snapshot answering hello) finds the view in the page: the box
      // had the focus in the view this one replaces, so it keeps it.
      if (!this.shown && this.draft.focused && this.root.isConnected) this.input.focus({ preventScroll: true });
      this.shown = true;
    } else if (this.shown) {
      this.dispose();
    }
    return this.disposed;
  }

  private busy(): boolean {
    return this.turnList().some((turn) => ACTIVE_STATUSES.has(turn.status));
  }

  private send(): void {
    const text = this.input.value;
    if (!text.trim() || this.busy()) return;
    this.sendTo({ type: "send", text });
    this.input.value = "";
    this.draft.text = "";
    this.refreshBar();
  }

  private onTurns(): void {
    if (this.replaced()) return;
    const list = this.turnList();
    const keep = new Set(list.map((turn) => turn.reply));
    for (const [number, view] of this.turns) {
      if (!keep.has(number)) {
        view.dispose();
        this.turns.delete(number);
      }
    }
    const follow = this.atBottom();
    list.forEach((turn, index) => {
      const view = this.turnView(turn);
      view.model.setState(stateOf(turn));
      if (this.log.children[index + 1] !== view.root) this.log.insertBefore(view.root, this.log.children[index + 1] ?? null);
    });
    show(this.empty, list.length === 0);
    this.regenerateButton.disabled = false; // the turns changed: a Regenerate clicked before has been heard
    if (follow) this.toBottom();
    this.refreshBar();
  }

  private turnView(turn: ChatTurn): TurnView {
    let view = this.turns.get(turn.reply);
    if (!view) {
      view = new TurnView(turn, (message) => this.sendTo(message), this.options);
      this.turns.set(turn.reply, view);
    }
    return view;
  }

  private onMessage(msg: unknown): void {
    if (this.replaced() || !msg || typeof msg !== "object") return;
    const m = msg as { type?: unknown; reply?: unknown; answers?: unknown };
    const follow = this.atBottom();
    if (m.type === "delta" && isNumber(m.reply)) {
      this.turns.get(m.reply)?.model.message(msg);
    } else if (m.type === "snapshot" && Array.isArray(m.answers)) {
      for (const answer of m.answers) {
        if (!answer || !isNumber(answer.reply)) continue;
        this.turns.get(answer.reply)?.model.message({ ...answer, type: "snapshot" });
      }
    }
    if (follow) this.toBottom();
  }

  /** Whether the log shows its end: then it follows what comes, else the reader scrolled up to read. */
  private atBottom(): boolean {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 8;
  }

  /** Scrolls the log to its end once the text that came is drawn (the Markdown views draw in frames). */
  private toBottom(): void {
    this.log.scrollTop = this.log.scrollHeight;
    globalThis.requestAnimationFrame?.(() => {
      if (!this.disposed) this.log.scrollTop = this.log.scrollHeight;
    });
  }

  private refreshBar(): void {
    const list = this.turnList();
    const name = String(this.model.get("name") ?? "");
    const title = `Chat ${name ? `“${name}”` : ""} · ${list.length} turn${list.length === 1 ? "" : "s"}`;
    if (this.titleEl.textContent !== title) this.titleEl.textContent = title;
    const busy = this.busy();
    show(this.regenerateButton, !busy && list.length > 0);
    this.sendButton.disabled = busy || !this.input.value.trim();
  }
}
