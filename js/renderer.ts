/**
 * An incrementally rendered Markdown view: text is appended in pieces, blocks that are finished
 * are rendered to the DOM once and never touched again, and only the open (last) block is
 * re-rendered. Work is done in animation frames, at most one render per frame, and a frame stops
 * early when its time budget is spent (a large snapshot is rendered over several frames), so no
 * single task grows with the length of the reply.
 *
 * Blocks are grouped into chunks of CHUNK_BLOCKS so that the stylesheet can let the browser skip
 * the chunks that are off screen (`content-visibility: auto` on `.ling-chunk`): measured in
 * Chromium, layout and pre-paint per update otherwise grow with the length of the reply.
 *
 * A block rendered before the page had math (formulas.ts loads Temml on the first formula) shows its
 * formulas' source; it is rendered again, once, when math arrives.
 */
import { type Block, BlockSplitter, type SplitterLimits } from "./blocks";
import { onMathReady, pendingFormulas } from "./formulas";
import { frameScheduler, type Scheduler } from "./frames";
import { renderMarkdown } from "./markdown";

export const CHUNK_BLOCKS = 32;

export interface MarkdownViewOptions {
  schedule?: Scheduler;
  now?: () => number;
  /** Milliseconds of work per frame before the rest is left to the next frame. */
  budgetMs?: number;
  /** Text is fed to the block splitter in pieces of at most this many characters. */
  sliceChars?: number;
  limits?: Partial<SplitterLimits>;
}

export class MarkdownView {
  /** The element holding the rendered blocks (in chunks). */
  readonly el: HTMLElement;
  private readonly schedule: Scheduler;
  private readonly now: () => number;
  private readonly budgetMs: number;
  private readonly sliceChars: number;
  private readonly limits: Partial<SplitterLimits>;
  private splitter: BlockSplitter;
  /** Everything received. */
  private full = "";
  /** Received text not yet given to the splitter. */
  private inbox = "";
  /** Closed blocks not yet in the DOM, from `queueHead` on. */
  private queue: Block[] = [];
  private queueHead = 0;
  /** The chunk that takes new blocks, and how many finished blocks it holds. */
  private chunk: HTMLElement | null = null;
  private chunkBlocks = 0;
  private openEl: HTMLElement | null = null;
  private openShown: string | null = null;
  private openShownFinal = false;
  private final = false;
  /** A final view whose text was cut short (stopped, failed, max tokens): its end stays completed. */
  private cut = false;
  private cancelFrame: (() => void) | null = null;
  private disposed = false;
  /** Closed block nodes showing formulas as source until math arrives, with what renders them again. */
  private awaitingMath: Array<{ node: HTMLElement; again: () => HTMLElement }> = [];
  /** Those nodes once math arrived, rendered again within the frames' budget like the rest. */
  private redraw: Array<{ node: HTMLElement; again: () => HTMLElement }> = [];
  private cancelMath: (() => void) | null = null;

  constructor(el: HTMLElement, options: MarkdownViewOptions = {}) {
    this.el = el;
    this.schedule = options.schedule ?? frameScheduler;
    this.now = options.now ?? (() => performance.now());
    this.budgetMs = options.budgetMs ?? 8;
    this.sliceChars = options.sliceChars ?? 16_384;
    this.limits = options.limits ?? {};
    this.splitter = new BlockSplitter(this.limits);
  }

  /** All the text this view shows (or is about to show). */
  get text(): string {
    return this.full;
  }

  /** True while some received text is not rendered yet. */
  get pending(): boolean {
    return this.cancelFrame !== null;
  }

  append(piece: string): void {
    if (!piece || this.disposed) return;
    this.full += piece;
    this.inbox += piece;
    this.request();
  }

  /** Shows `text`: appends when it extends what is shown, otherwise starts over. */
  setText(text: string): void {
    if (this.disposed || text === this.full) return;
    if (text.startsWith(this.full)) {
      this.append(text.slice(this.full.length));
      return;
    }
    this.el.replaceChildren();
    this.splitter = new BlockSplitter(this.limits);
    this.full = "";
    this.inbox = "";
    this.queue = [];
    this.queueHead = 0;
    this.chunk = null;
    this.openEl = null;
    this.openShown = null;
    this.append(text);
  }

  /**
   * A final view renders its last block as finished (code highlighted). While the text streams, and
   * when it was `cut` short, the markers the last block leaves open are closed (tail.ts); a reply that
   * ended on its own is shown as written.
   */
  setFinal(final: boolean, cut = false): void {
    if ((this.final === final && this.cut === cut) || this.disposed) return;
    this.final = final;
    this.cut = final && cut;
    this.openShown = null;
    this.request();
  }

  /** Renders everything now, whatever the budget (for tests and teardown). */
  flush(): void {
    if (this.disposed) return;
    this.cancelFrame?.();
    this.frame(Number.POSITIVE_INFINITY);
  }

  dispose(): void {
    this.disposed = true;
    this.cancelFrame?.();
    this.cancelFrame = null;
    this.cancelMath?.();
    this.cancelMath = null;
    this.awaitingMath = [];
    this.redraw = [];
  }

  private request(): void {
    if (this.cancelFrame || this.disposed) return;
    this.cancelFrame = this.schedule(() => this.frame(this.budgetMs));
  }

  private frame(budgetMs: number): void {
    this.cancelFrame = null;
    if (this.disposed) return;
    const deadline = this.now() + budgetMs;
    while (this.inbox) {
      const piece = this.inbox.length > this.sliceChars ? this.inbox.slice(0, this.sliceChars) : this.inbox;
      this.inbox = this.inbox.slice(piece.length);
      for (const block of this.splitter.append(piece)) this.queue.push(block);
      if (this.now() >= deadline) break;
    }
    while (this.queueHead < this.queue.length) {
      this.renderClosed(this.queue[this.queueHead++]);
      if (this.now() >= deadline) break;
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    // At least one a frame, as above: a stream that fills every frame's budget must not starve them.
    for (let entry = this.redraw.pop(); entry; entry = this.now() < deadline ? this.redraw.pop() : undefined) {
      if (this.el.contains(entry.node)) entry.node.replaceWith(entry.again());
    }
    if (this.inbox || this.queue.length || this.redraw.length) {
      this.request();
      return;
    }
    this.renderOpen();
  }

  private renderClosed(block: Block): void {
    const pending = pendingFormulas();
    const node = this.blockNode(block, true, false);
    if (pendingFormulas() !== pending) this.awaitMath(node, () => this.blockNode(block, true, false));
    if (this.openEl) {
      this.openEl.replaceWith(node);
      this.openEl = null;
      this.openShown = null;
    } else {
      this.place(node);
    }
    this.chunkBlocks++;
  }

  /** Appends a new block node at the end, in a new chunk when the last one is full. */
  private place(node: HTMLElement): void {
    if (!this.chunk || this.chunkBlocks >= CHUNK_BLOCKS) {
      this.chunk = document.createElement("div");
      this.chunk.className = "ling-chunk";
      this.el.append(this.chunk);
      this.chunkBlocks = 0;
    }
    this.chunk.append(node);
  }

  private renderOpen(): void {
    const block = this.splitter.open();
    if (block.text === this.openShown && this.final === this.openShownFinal) return;
    this.openShown = block.text;
    this.openShownFinal = this.final;
    if (!block.text.trim()) {
      this.openEl?.remove();
      this.openEl = null;
      return;
    }
    // The open block is shown plain (no highlighting) until the reply is final.
    const pending = pendingFormulas();
    const node = this.blockNode(block, this.final, !this.final, !this.final || this.cut);
    if (pendingFormulas() !== pending) this.awaitMath(null, null);
    // The last block drops its bottom margin. A class set on the new node rather than a
    // `:last-child` rule: with one, each new chunk restyled the whole chunk before it (15,000
    // elements, 60 ms, measured in Chromium on a long highlighted code block).
    node.classList.add("ling-tail");
    if (this.openEl) this.openEl.replaceWith(node);
    else this.place(node);
    this.openEl = node;
  }

  /** Renders `node` `again` when math arrives; the open block (`node` null) is rendered anew then. */
  private awaitMath(node: HTMLElement | null, again: (() => HTMLElement) | null): void {
    if (node && again) this.awaitingMath.push({ node, again });
    this.cancelMath ??= onMathReady(() => this.mathReady());
  }

  private mathReady(): void {
    this.cancelMath = null;
    if (this.disposed) return;
    this.redraw.push(...this.awaitingMath.reverse());  // popped from the end: the first block first
    this.awaitingMath = [];
    this.openShown = null;
    this.request();
  }

  private blockNode(block: Block, highlight: boolean, open: boolean, complete = false): HTMLElement {
    const node = document.createElement("div");
    node.className = "ling-block";
    if (block.cont) node.classList.add("ling-cont");
    if (block.reopened) node.classList.add("ling-reopened");
    if (open) node.classList.add("ling-open");
    try {
      node.append(renderMarkdown(block.text, highlight, block.code, complete));
    } catch (err) {
      console.error("[ling-notebook] could not render a block; showing it as text", err);
      node.replaceChildren();
      const pre = document.createElement("pre");
      pre.textContent = block.text;
      node.append(pre);
    }
    return node;
  }
}
