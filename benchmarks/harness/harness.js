// Drives one renderer (ours: the bundled app.js, which the per-reply stub loads; or the naive baseline)
// through anywidget's render({ model, el }) contract with a fake model, and feeds it the kernel's delta
// messages from a Web Worker at the kernel's frame interval. Records long tasks (PerformanceObserver), the time of
// every message handler and animation-frame callback, and when the final text is on screen.
const params = new URLSearchParams(location.search);
const bench = { longtasks: [], handlers: [], frames: [], errors: [] };
window.__bench = bench;
window.addEventListener("error", (e) => bench.errors.push(String(e.message)));

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) bench.longtasks.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });

// Time every animation-frame callback: the incremental renderer does its work in frames.
const nativeRaf = window.requestAnimationFrame.bind(window);
window.requestAnimationFrame = (callback) =>
  nativeRaf((t) => {
    const start = performance.now();
    try {
      callback(t);
    } finally {
      bench.frames.push(performance.now() - start);
    }
  });

/** The part of anywidget's model that a front end uses: get/set/on/off/send. */
class FakeModel {
  constructor(state) {
    this.state = { ...state };
    this.handlers = new Map();
    this.sent = [];
  }
  get(key) {
    return this.state[key];
  }
  set(key, value) {
    this.state[key] = value;
  }
  save_changes() {}
  on(event, callback) {
    for (const name of event.split(/\s+/)) {
      if (!this.handlers.has(name)) this.handlers.set(name, new Set());
      this.handlers.get(name).add(callback);
    }
  }
  off(event, callback) {
    if (!event) {
      this.handlers.clear();
      return;
    }
    for (const name of event.split(/\s+/)) {
      if (callback) this.handlers.get(name)?.delete(callback);
      else this.handlers.delete(name);
    }
  }
  send(content) {
    this.sent.push(content);
  }
  emit(event, ...args) {
    for (const callback of [...(this.handlers.get(event) ?? [])]) callback(...args);
  }
  /** What a kernel state update does: set every key, then fire change:<key> for each. */
  update(changes) {
    Object.assign(this.state, changes);
    for (const key of Object.keys(changes)) this.emit(`change:${key}`, this, changes[key]);
    this.emit("change", this);
  }
}

const INITIAL = {
  status: "waiting", model_name: "bench", ttft: null, tokens_per_s: null,
  elapsed: null, usage: null, finish_reason: null, error: null,
};

async function setup() {
  const data = await (await fetch(params.get("data"))).json();
  if (params.get("css")) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = params.get("css");
    document.head.append(link);
  }
  const module = await import(params.get("module"));
  const model = new FakeModel(INITIAL);
  const el = document.getElementById("out");
  module.default.render({ model, el });
  const body = () => (params.get("renderer") === "ours" ? el.querySelector(".ling-body") : el.firstElementChild);
  const shown = () => Boolean(body()?.lastElementChild?.textContent?.includes(data.sentinel));

  window.__start = () =>
    new Promise((resolve) => {
      model.update({ status: "streaming" });
      const worker = new Worker(new URL("./feeder.js", import.meta.url));
      bench.startedAt = performance.now();
      worker.onmessage = (event) => {
        if (event.data === "end") {
          bench.fedAt = performance.now();
          worker.terminate();
          // The kernel's final state sync, as one update.
          model.update({ status: "done", finish_reason: "stop" });
          bench.finalSyncAt = performance.now();
          const check = () => {
            if (shown()) {
              bench.shownAt = performance.now();
              bench.sent = model.sent;
              resolve(bench);
            } else {
              setTimeout(check, 5);
            }
          };
          check();
          return;
        }
        const start = performance.now();
        model.emit("msg:custom", event.data, []);
        const end = performance.now();
        bench.handlers.push(end - start);
        bench.lastHandledAt = end;
      };
      worker.postMessage({ messages: data.messages, interval: data.interval });
    });
  window.__ready = true;
}

setup().catch((err) => {
  bench.errors.push(String(err && err.stack ? err.stack : err));
  window.__ready = true;
});
