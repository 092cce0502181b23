/**
 * Loads the renderer bundle (js/app.ts) at most once per page, for the stub in widget.ts.
 *
 * Each browser page (and each iframe: it has its own global object) keeps one `PageLoader` on its global
 * object, under a key that holds the bundle's content hash, so a page never reuses a renderer built for
 * another version of ling-notebook. While the page has no renderer, one waiting view asks its kernel for
 * it (a `renderer` custom message); the answer brings the bundle's source and CSS, which are imported from
 * a Blob URL (as anywidget imports a widget's own ESM) and injected once; the math bundle that comes with
 * them is imported the same way, but only when the renderer first shows a formula. If the asking view goes away
 * before the answer (its reply ended and its widget closed), the next waiting view asks; if no answer comes
 * in RETRY_MS (the kernel was restarted under the asking view), the newest waiting view asks again.
 */
import type { AnyLingModel, CarriedRenderer, RendererMessage, WidgetModel } from "./contract";
import type { MathEngine } from "./formulas";

/** What the renderer bundle exports. */
export interface Renderer {
  render(props: { model: AnyLingModel; el: HTMLElement }): () => void;
  /** Where its formulas get Temml: called once, when the first formula is shown. */
  provideMath(load: () => Promise<MathEngine>): void;
}

export const RETRY_MS = 10_000;

export interface LoaderOptions {
  /** Turns a bundle's source into its module's default export (default: import it from a Blob URL). */
  importSource?: (source: string) => Promise<unknown>;
  retryMs?: number;
}

/** One view's wait for the renderer; `cancel` when the view goes away first. */
export interface RendererRequest {
  readonly renderer: Promise<Renderer>;
  cancel(): void;
}

interface Waiter {
  model: AnyLingModel;
  onMessage: (msg: unknown) => void;
  resolve: (renderer: Renderer) => void;
  reject: (err: unknown) => void;
}

export async function importFromBlob(source: string): Promise<unknown> {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    const module = await import(/* @vite-ignore */ url);
    return module.default ?? module;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function isRendererMessage(msg: unknown): msg is RendererMessage {
  const m = msg as Partial<RendererMessage> | null;
  return (
    !!m &&
    m.type === "renderer" &&
    typeof m.hash === "string" &&
    typeof m.js === "string" &&
    typeof m.css === "string" &&
    typeof m.math === "string"
  );
}

export class PageLoader {
  private readonly hash: string;
  private readonly document: Document;
  private readonly importSource: (source: string) => Promise<unknown>;
  private readonly retryMs: number;
  /** Set once an answer arrived: every later view uses it. */
  private loaded: Promise<Renderer> | null = null;
  /** Views waiting for an answer, oldest first. */
  private readonly waiters = new Set<Waiter>();
  private asker: Waiter | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;

  constructor(hash: string, document: Document, options: LoaderOptions = {}) {
    this.hash = hash;
    this.document = document;
    this.importSource = options.importSource ?? importFromBlob;
    this.retryMs = options.retryMs ?? RETRY_MS;
  }

  /** The page's loader for this bundle hash, created on first use. */
  static of(scope: object, hash: string, document: Document, options?: LoaderOptions): PageLoader {
    const key = `__lingNotebookRenderer_${hash}`;
    const slots = scope as Record<string, PageLoader | undefined>;
    return (slots[key] ??= new PageLoader(hash, document, options));
  }

  /** The renderer, once the page has it; `model` is this view's way to ask its kernel for it. */
  request(model: AnyLingModel): RendererRequest {
    if (!this.loaded) this.takeCarried(model);
    if (this.loaded) return { renderer: this.loaded, cancel: () => undefined };
    let waiter!: Waiter;
    const renderer = new Promise<Renderer>((resolve, reject) => {
      waiter = { model, resolve, reject, onMessage: (msg) => this.onMessage(msg) };
    });
    // Every waiting view listens: an answer to any of them serves the whole page.
    model.on("msg:custom", waiter.onMessage);
    this.waiters.add(waiter);
    if (!this.asker) this.ask(waiter);
    return { renderer, cancel: () => this.leave(waiter) };
  }

  /** A widget of a cell that waits (foreground mode) carries the renderer: taken as the kernel's answer. */
  private takeCarried(model: AnyLingModel): void {
    const carried = (model as unknown as WidgetModel<CarriedRenderer>).get("_renderer");
    if (carried && typeof carried === "object") this.onMessage({ ...carried, type: "renderer" });
  }

  private ask(waiter: Waiter): void {
    this.asker = waiter;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = setTimeout(() => this.askAgain(), this.retryMs);
    try {
      waiter.model.send({ type: "renderer" });
    } catch (err) {
      console.error("[ling-notebook] could not ask the kernel for the renderer", err);
    }
  }

  private askAgain(): void {
    this.retry = null;
    const newest = [...this.waiters].pop();
    if (newest) this.ask(newest);
  }

  private leave(waiter: Waiter): void {
    if (!this.waiters.delete(waiter)) return;
    waiter.model.off("msg:custom", waiter.onMessage);
    if (this.asker !== waiter) return;
    this.asker = null;
    const next = this.waiters.values().next();
    if (!next.done) this.ask(next.value);
    else this.stopRetry();
  }

  private stopRetry(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
  }

  private onMessage(msg: unknown): void {
    if (this.loaded || !isRendererMessage(msg)) return;
    this.stopRetry();
    this.asker = null;
    const loaded = this.load(msg);
    this.loaded = loaded;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const waiter of waiters) {
      waiter.model.off("msg:custom", waiter.onMessage);
      loaded.then(waiter.resolve, waiter.reject);
    }
    // A bundle that fails to load is not kept: the next view asks again.
    loaded.catch(() => {
      if (this.loaded === loaded) this.loaded = null;
    });
  }

  private async load(msg: RendererMessage): Promise<Renderer> {
    // A kernel with another build of the package (upgraded under a running kernel) must not fill this
    // build's slot: every later view in the page would get a renderer that does not match its stub.
    if (msg.hash !== this.hash) {
      throw new Error(`the kernel sent renderer ${msg.hash}, this view needs ${this.hash}: restart the kernel`);
    }
    const renderer = (await this.importSource(msg.js)) as Partial<Renderer> | null;
    if (typeof renderer?.render !== "function" || typeof renderer.provideMath !== "function") {
      throw new Error("the renderer bundle has no render() or provideMath()");
    }
    const math = msg.math; // kept by formulas.ts until it is imported, not the whole message
    renderer.provideMath(async () => {
      const engine = (await this.importSource(math)) as Partial<MathEngine> | null;
      if (typeof engine?.renderToString !== "function") throw new Error("the math bundle has no renderToString()");
      return engine as MathEngine;
    });
    const id = `ling-notebook-css-${this.hash}`;
    if (!this.document.getElementById(id)) {
      const style = this.document.createElement("style");
      style.id = id;
      style.textContent = msg.css;
      this.document.head.append(style);
    }
    return renderer as Renderer;
  }
}
