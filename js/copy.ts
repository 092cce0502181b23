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
