// A Web Worker that plays the kernel: it posts the delta messages at a fixed interval, on its own
// clock, whatever the page's main thread is doing. Each post arrives on the page as its own task,
// as a websocket message would.
self.onmessage = (event) => {
  const { messages, interval } = event.data;
  const start = performance.now();
  let i = 0;
  const tick = () => {
    const due = Math.floor((performance.now() - start) / interval) + 1;
    while (i < messages.length && i < due) self.postMessage(messages[i++]);
    if (i < messages.length) setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
    else self.postMessage("end");
  };
  tick();
};
