// Redrawing what live runs update several times a second. New elements under a pressed mouse
// button swallow its click (Chromium sends it nowhere), so an unchanged part is left as it is.
import { language } from "./i18n.js";

const shown = new WeakMap(); // element -> key of what its children show

/** Replace el's children with build()'s unless `what` (any JSON) is already shown there. */
export function renderChanged(el, what, build) {
  const key = JSON.stringify([language(), what]);
  if (shown.get(el) === key) return false;
  shown.set(el, key);
  el.replaceChildren(...build());
  return true;
}

/** A function that closes a Bootstrap dialog now, or as soon as it has opened: Bootstrap
 * ignores hide() while a modal is still opening, so an answer that came back that fast left
 * the dialog open. */
export function dialogCloser(modalEl, modal) {
  let opening = false;
  modalEl.addEventListener("show.bs.modal", () => {
    opening = true;
  });
  modalEl.addEventListener("shown.bs.modal", () => {
    opening = false;
  });
  return () => {
    if (opening) modalEl.addEventListener("shown.bs.modal", () => modal.hide(), { once: true });
    else modal.hide();
  };
}
