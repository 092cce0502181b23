/**
 * Copying to the clipboard, shared by the live view (pane.ts) and the static copy's controls that the
 * ling-notebook extension adds (copies.ts). Kept apart from the view so the extension bundles none of the
 * renderer.
 */

/** A button that keeps Enter/Space away from the notebook's keyboard shortcuts. */
export function button(className: string, label: string, aria: string, parent: HTMLElement): HTMLButtonElement {
  const node = document.createElement("button");
  node.className = className;
  parent.append(node);
  node.type = "button";
  node.textContent = label;
  node.setAttribute("aria-label", aria);
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") event.stopPropagation();
  });
  return node;
}

/** Copies `text` to the clipboard; falls back to a hidden textarea where the API is missing or refused. */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Refused (no permission, insecure context): try the old way.
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  const focused = document.activeElement as HTMLElement | null;
  document.body.append(area);
  try {
    area.focus();
    area.select();
    return document.execCommand("copy");
  } catch {
    return false;
  } finally {
    area.remove();
    focused?.focus();
  }
}

/**
 * Copies a text that is not known yet (compressed Markdown being inflated). Safari lets a page write to the
 * clipboard only from the click itself, so the write starts now with the text as a promise (a ClipboardItem
 * resolves it later); where that is missing or refused, the text is copied once it is there.
 */
export async function copyLater(text: Promise<string>): Promise<boolean> {
  if (typeof ClipboardItem !== "undefined" && navigator.clipboard?.write) {
    try {
      const blob = text.then((value) => new Blob([value], { type: "text/plain" }));
      await navigator.clipboard.write([new ClipboardItem({ "text/plain": blob })]);
      return true;
    } catch {
      // Refused, or a browser without promises in ClipboardItem: the text, once it is there.
    }
  }
  return copyText(await text);
}
