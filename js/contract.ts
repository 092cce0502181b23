/**
 * The contract between the Python widget model (`ling_notebook/widget.py`) and this front end.
 * Keep it in step with the Python side: the names and types here mirror the synced traitlets and
 * the custom messages exactly.
 */

/** A reply's life: the last three are final. */
export type Status = "waiting" | "streaming" | "done" | "stopped" | "error";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** What the tokens cost, formatted (render.py `usage_state`); only when prices are configured. */
  cost?: string;
}

/** What a waiting reply waits for: the reply of an earlier turn, or the server's answer to its request. */
export type WaitingFor = "reply" | "server";

/**
 * Mirrors the synced traitlets of the Python widget model, one field per trait. The reply's text is
 * not among them: it arrives only in delta and snapshot messages, once, and when the reply ends the
 * kernel replaces the view with a static copy instead of sending the text again.
 */

export interface LingModelState {
  status: Status;
  /** Set once the kernel knows; the view shows it while `status` is "waiting". */
  waiting_for?: WaitingFor | null;
  model_name: string;
  /** Time to first token, in seconds. */
  ttft: number | null;
  tokens_per_s: number | null;
  /** Seconds since the request was sent. */
  elapsed: number | null;
  usage: Usage | null;
  finish_reason: string | null;
  error: string | null;
  /** More the status line says: "continues 4 earlier turns", "replayed from …" (render.py `status_notes`). */
  notes?: string[];
  /**
   * The cell waits for the reply (foreground mode): the kernel takes in no click until it ends, so the
   * views offer no Stop (interrupting the kernel stops it).
   */
  foreground?: boolean;
}

/**
 * What changed in one tool call (widget.py `call_change`). `n` is the call's place among the reply's calls;
 * `arguments` is a piece to append; `shown` (once they are complete) replaces them. All text is untrusted:
 * a view sets it as text, never as HTML.
 */
export interface CallChange {
  n: number;
  id?: string;
  name?: string;
  state?: string;
  arguments?: string;
  shown?: string;
  seconds?: number | null;
  result?: string | null;
  error?: string | null;
  output?: string | null;
}

/** Kernel -> view: text to append. `seq` counts delta messages from 1 without gaps. */
export interface DeltaMessage {
  type: "delta";
  seq: number;
  content: string;
  reasoning: string;
  /** Tool calls that changed; a message holds text or calls, never text after a call (deltas.py). */
  calls?: CallChange[];
  elapsed: number;
  ttft: number | null;
  /** The kernel's `Reply.tokens_per_s`: null where a speed would mean nothing (the view never computes one). */
  tokens_per_s: number | null;
}

/** Kernel -> view: the whole text so far, including every delta up to and including `seq`. */
export interface SnapshotMessage {
  type: "snapshot";
  seq: number;
  text: string;
  reasoning: string;
  /** For a reply with tool calls: its text parts and calls in order (each call whole, arguments given so far). */
  parts?: Array<{ kind: "text"; text: string } | ({ kind: "call" } & CallChange)>;
}

/**
 * Kernel -> view: the renderer bundle (js/app.ts, built), its stylesheet and the math bundle (js/math.ts,
 * imported only when a formula is first shown), answering a view's `renderer` request. A page asks for
 * it once (see loader.ts).
 */
export interface RendererMessage {
  type: "renderer";
  /** The content hash of js + css + math, as js/build.mjs writes it into the stub (LING_RENDERER_HASH). */
  hash: string;
  js: string;
  css: string;
  math: string;
}

/**
 * Kernel -> view: the reply ended and update_display has replaced every output it could reach. Sent to
 * every view after update_display, and to a view that says hello after the end. A view still there to
 * hear it was missed (its page was reloaded, or the notebook reopened, while the reply streamed): it asks
 * for the static copy (`copy`).
 */
export interface EndedMessage {
  type: "ended";
}

/**
 * Kernel -> view: the static copy (the output bundle update_display puts in place), answering `copy`.
 * The view hands it to the page's extension (FINAL_EVENT).
 */
export interface FinalMessage {
  type: "final";
  bundle: Record<string, unknown>;
  /** The widget's model id: the extension replaces only the output that shows this widget. */
  model_id: string;
  /** The output's metadata: the Markdown of the copy's replies (COPY_METADATA), for Copy. */
  metadata?: Record<string, unknown>;
}

export type KernelMessage = DeltaMessage | SnapshotMessage | RendererMessage | EndedMessage | FinalMessage;

/**
 * View -> kernel. `hello` asks for a snapshot; `bye` says the view is gone (the kernel closes the widget
 * once the reply has ended and every view that said hello said bye), `away` when its page unloads (a
 * reload may bring it back: the kernel waits a while for a new hello); `copy` asks for the static copy;
 * `stop` cancels the reply; `renderer` asks for the renderer. `view` is a random id per view.
 */
export type ViewMessage =
  | { type: "hello"; view: string }
  | { type: "bye"; view: string; away?: boolean }
  | { type: "copy" }
  | { type: "stop" }
  | { type: "tool"; call: string; run: boolean }
  | { type: "renderer" };

/**
 * The DOM event a view dispatches (bubbling, cancelable) from its element when a `final` message reaches
 * it. The ling-notebook JupyterLab / Notebook 7 extension (js/keeper.ts) answers it by replacing the
 * output that holds the element and shows widget `detail.model_id` with `detail.bundle` in the notebook's
 * model, and calls preventDefault(); where nobody answers, the view keeps its own text and says it is not
 * saved.
 */
export const FINAL_EVENT = "ling-notebook:final";

export interface FinalDetail {
  bundle: Record<string, unknown>;
  model_id: string;
  metadata?: Record<string, unknown>;
}

/**
 * The key of a static copy's output metadata (ling_notebook/render.py `copy_metadata`): its provenance, and
 * `markdown: string[]`, the Markdown of each reply in the copy, in the order of their headers.
 */
export const COPY_METADATA = "ling_notebook";

/**
 * Mirrors the synced traitlets of the Python comparison widget (`ling_notebook/compare_widget.py`):
 * one entry per model, in order, each with the fields of a reply's state. Texts arrive only in messages.
 */
export interface CompareModelState {
  columns: LingModelState[];
  /** As in `LingModelState`. */
  foreground?: boolean;
}

/** One column's part of a comparison delta: text to append to column `index`, and its live numbers. */
export interface ColumnDelta {
  index: number;
  content: string;
  reasoning: string;
  elapsed: number;
  ttft: number | null;
  tokens_per_s: number | null;
}

/** Kernel -> comparison view: the deltas of every column that has some, in one message per frame. */
export interface CompareDeltaMessage {
  type: "delta";
  seq: number;
  columns: ColumnDelta[];
}

/** Kernel -> comparison view: every column's whole text so far, up to and including delta `seq`. */
export interface CompareSnapshotMessage {
  type: "snapshot";
  seq: number;
  columns: Array<{ text: string; reasoning: string }>;
}

/**
 * Comparison view -> kernel: `stop` with a column stops that reply; without one, every reply. `hello`,
 * `bye` and `copy` are the reply view's (ViewMessage), answered the same way.
 */
export type CompareViewMessage = { type: "stop"; column?: number };

/**
 * Mirrors the synced traitlets of the Python chat box widget (`ling_notebook/chat_widget.py`). The answers'
 * texts are not among them: they arrive in delta messages (each naming its answer by `reply`, with a `seq` of
 * that answer's own) and in the snapshot that answers a hello.
 */
export interface ChatModelState {
  name: string;
  /** The same in every view of one box: the draft in the text box outlives a view. */
  chat_id: string;
  turns: ChatTurn[];
}

/** One turn: its key in the conversation, the prompt, the kernel's number for its answer, and the answer's state. */
export interface ChatTurn extends LingModelState {
  key: string;
  prompt: string;
  reply: number;
}

/** Kernel -> chat view: every answer's text so far, each up to and including its delta `seq`. */
export interface ChatSnapshotMessage {
  type: "snapshot";
  answers: Array<Omit<SnapshotMessage, "type"> & { reply: number }>;
}

/**
 * Chat view -> kernel: `send` asks `text` as a new turn (not while an answer runs); `regenerate` asks the last
 * turn again, its new answer replacing the old; `stop` stops what runs; `tool` is a reply view's; `hello`
 * asks for the snapshot.
 */
export type ChatViewMessage =
  | { type: "send"; text: string }
  | { type: "regenerate" }
  | { type: "stop" }
  | { type: "tool"; call: string; run: boolean }
  | { type: "hello" };

type Callback = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The part of anywidget's model object this front end uses (what tests fake). */
export interface WidgetModel<T> {
  get<K extends keyof T>(key: K): T[K];
  on(event: string, callback: Callback): void;
  off(event?: string | null, callback?: Callback | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: unknown): void;
}

export const FINAL_STATUSES: ReadonlySet<string> = new Set(["done", "stopped", "error"]);
export const ACTIVE_STATUSES: ReadonlySet<string> = new Set(["waiting", "streaming"]);

/** The model of any of our widgets: what the stub and the loader handle without looking inside. */
export type AnyLingModel =
  | WidgetModel<LingModelState>
  | WidgetModel<CompareModelState>
  | WidgetModel<ChatModelState>;

/**
 * The state of a widget whose cell waits for it (foreground mode): its kernel answers no `renderer` request
 * until the cell ends, so the widget carries the renderer (a `RendererMessage` without its type).
 */
export interface CarriedRenderer {
  _renderer?: Omit<RendererMessage, "type"> | null;
}
