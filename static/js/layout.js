// The chart panels' layout a person chose: panels pinned to the top (in the order pinned), an
// order for the others (the first of them, as far as one was moved), and collapsed panels.
// One layout per database, kept by the server (GET/PUT /api/layout), so the desktop app and a
// browser on the same database agree. Panels it does not name keep their default place.
import { t } from "./i18n.js";

// The most names each list holds (lernkurve/web/layout.py refuses more).
export const MAX_ORDER = 200;
export const MAX_PINNED = 50;
export const MAX_COLLAPSED = 200;

const names = (list) => (Array.isArray(list) ? list.filter((name) => typeof name === "string") : []);
const place = (n) => String(n).padStart(4, "0");

export class PanelLayout {
  constructor() {
    this.set(null);
  }

  /** Take a layout as the server keeps it ({order, pinned, collapsed}; null: none). */
  set(layout) {
    this.order = names(layout?.order);
    this.pinned = names(layout?.pinned);
    this.collapsed = new Set(names(layout?.collapsed));
    this.index();
  }

  index() {
    this.pinAt = new Map(this.pinned.map((name, i) => [name, i]));
    this.orderAt = new Map(this.order.map((name, i) => [name, i]));
  }

  toJSON() {
    return { order: this.order, pinned: this.pinned, collapsed: [...this.collapsed] };
  }

  /** A panel's sort key: pinned first, then the moved ones, then the rest by `fallback`. */
  rank(name, fallback) {
    if (this.pinAt.has(name)) return `0${place(this.pinAt.get(name))}`;
    if (this.orderAt.has(name)) return `1${place(this.orderAt.get(name))}`;
    return `2${fallback}`;
  }

  isPinned(name) {
    return this.pinAt.has(name);
  }

  isCollapsed(name) {
    return this.collapsed.has(name);
  }

  togglePin(name) {
    if (this.pinAt.has(name)) this.pinned.splice(this.pinAt.get(name), 1);
    else if (this.pinned.length < MAX_PINNED) this.pinned.push(name);
    this.index();
  }

  toggleCollapsed(name) {
    if (!this.collapsed.delete(name)) this.collapsed.add(name);
    while (this.collapsed.size > MAX_COLLAPSED) this.collapsed.delete(this.collapsed.values().next().value);
  }

  /**
   * Swap two neighbours, both pinned or both not. `page`: the unpinned panels' names in page
   * order. The order kept is the page's up to the last panel moved (now or before), then the
   * saved names this page lacks (another run's panels).
   */
  swap(a, b, page) {
    if (this.pinAt.has(a)) {
      const [i, j] = [this.pinAt.get(a), this.pinAt.get(b)];
      [this.pinned[i], this.pinned[j]] = [b, a];
    } else {
      const next = [...page];
      const [i, j] = [next.indexOf(a), next.indexOf(b)];
      [next[i], next[j]] = [b, a];
      let last = Math.max(i, j);
      next.forEach((name, k) => this.orderAt.has(name) && (last = Math.max(last, k)));
      const shown = new Set(page);
      this.order = [...next.slice(0, last + 1), ...this.order.filter((name) => !shown.has(name))];
      this.order = this.order.slice(0, MAX_ORDER);
    }
    this.index();
  }
}

/** Put a panel's pin, move and collapse buttons (from their <template>) into its caption. */
export function addControls(block, template) {
  const [collapse, group] = template.content.cloneNode(true).children;
  const caption = block.querySelector("figcaption");
  caption.prepend(collapse);
  caption.querySelector(".ms-auto").append(group);
}

/** Show a panel's state on its buttons: pinned or not, collapsed or not. */
export function renderControls(block, { pinned, collapsed }) {
  block.toggleAttribute("data-collapsed", collapsed);
  block.toggleAttribute("data-pinned", pinned);
  const pin = block.querySelector("[data-panel-pin]");
  pin.setAttribute("aria-pressed", String(pinned));
  label(pin, pinned ? "panel.unpin" : "panel.pin");
  pin.querySelector("i").className = pinned ? "bi bi-pin-angle-fill" : "bi bi-pin-angle";
  const fold = block.querySelector("[data-panel-collapse]");
  fold.setAttribute("aria-expanded", String(!collapsed));
  label(fold, collapsed ? "panel.expand" : "panel.collapse");
  fold.querySelector("i").className = collapsed ? "bi bi-chevron-right" : "bi bi-chevron-down";
}

// The keys stay on the button, so a change of language relabels it (i18n.apply).
function label(button, key) {
  button.dataset.i18nTitle = key;
  button.dataset.i18nAriaLabel = key;
  button.title = t(key);
  button.setAttribute("aria-label", t(key));
}
