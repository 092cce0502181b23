/** Work done a frame at a time: the renderer's blocks (renderer.ts), a static copy's chunks (copyview.ts). */

/** Runs `callback` later (once); returns a function that cancels it. */
export type Scheduler = (callback: () => void) => () => void;

export const frameScheduler: Scheduler = (callback) => {
  if (typeof requestAnimationFrame === "function") {
    const handle = requestAnimationFrame(() => callback());
    return () => cancelAnimationFrame(handle);
  }
  const handle = setTimeout(callback, 16);
  return () => clearTimeout(handle);
};
