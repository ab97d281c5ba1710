// Form fields generated from an hparam schema: {type, min, max, default, choices, live, log, help}.
// Bounded floats get a slider (logarithmic when spec.log) beside a number box; an lr-like key's
// slider is logarithmic around its current value (÷100 … ×100, within the schema's bounds), so
// the value sits in the middle, whatever the schema's range. Values are sent as typed; anything
// unparsable is sent as written, so the server answers with its own message.
import { number, value as formatValue } from "./format.js";
import { optional, t } from "./i18n.js";

const SLIDER_STEPS = 1000;
const LR_SPAN = 100; // an lr-like slider reaches this many times below and above the value
const SHOWN_DIGITS = 6; // significant digits a float shows in its box
let counter = 0;

function element(tag, className, attrs = {}) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  for (const [name, v] of Object.entries(attrs)) el.setAttribute(name, v);
  return el;
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function hasBounds(spec) {
  return Number.isFinite(spec.min) && Number.isFinite(spec.max) && spec.max > spec.min;
}

/** lr, base_lr, lr_max, learning_rate (or any key the schema calls logarithmic). */
function lrLike(key, spec) {
  return spec.type === "float" && (spec.log || /(^|_)lr($|_)|learning_rate/.test(key));
}

/** The slider's range for an lr-like key at `value`: value ÷ LR_SPAN … × LR_SPAN within the
 * schema's bounds; null when the value is no positive number. */
function aroundValue(spec, value) {
  if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) return null;
  const min = Math.max(value / LR_SPAN, spec.min > 0 ? spec.min : 0);
  const max = Number.isFinite(spec.max) ? Math.min(value * LR_SPAN, spec.max) : value * LR_SPAN;
  return max > min ? { ...spec, min, max, log: true } : null;
}

/** A float as its box shows it: SHOWN_DIGITS significant digits, 8.5723e-4 when tiny or huge. */
export function boxText(v) {
  const rounded = Number(v.toPrecision(SHOWN_DIGITS));
  const abs = Math.abs(rounded);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? rounded.toExponential() : String(rounded);
}

/** Map between a value and a slider position 0..SLIDER_STEPS (log or linear). */
function sliderScale(spec) {
  const log = spec.log && spec.min > 0;
  const lo = log ? Math.log10(spec.min) : spec.min;
  const hi = log ? Math.log10(spec.max) : spec.max;
  return {
    toPos: (v) => {
      const x = log ? Math.log10(Math.max(v, spec.min)) : v;
      return Math.min(SLIDER_STEPS, Math.max(0, Math.round(((x - lo) / (hi - lo)) * SLIDER_STEPS)));
    },
    fromPos: (pos) => {
      const x = lo + (pos / SLIDER_STEPS) * (hi - lo);
      const v = log ? 10 ** x : x;
      return spec.type === "int" ? Math.round(v) : Number(v.toPrecision(3));
    },
  };
}

export class Field {
  /** key, spec, initial value; options.showNow adds a "now …" label for live values. */
  constructor(key, spec, initial, options = {}) {
    this.key = key;
    this.spec = spec;
    this.dirty = false;
    this.id = `hp-${options.prefix || "f"}-${key}-${++counter}`;
    this.root = element("div", "hp-row", { "data-key": key });
    const head = element("div", "d-flex align-items-baseline gap-2 mb-1");
    this.label = element("label", "form-label mb-0 fw-medium font-monospace", { for: this.id });
    this.label.textContent = key;
    head.append(this.label);
    if (options.showNow) {
      this.now = element("span", "hp-now text-body-secondary ms-auto");
      head.append(this.now);
    } else if (spec.live) {
      const live = element("span", "badge text-bg-info-subtle text-info-emphasis ms-auto fw-normal");
      live.dataset.i18n = "new.live";
      live.textContent = t("new.live");
      head.append(live);
    }
    this.root.append(head);
    this.control = element("div", "d-flex align-items-center gap-2");
    this.root.append(this.control);
    this.build();
    const help = this.helpText();
    this.helpId = `${this.id}-help`;
    this.help = element("div", "form-text mt-0", { id: this.helpId });
    this.help.textContent = help;
    this.feedback = element("div", "invalid-feedback", { id: `${this.id}-error` });
    this.root.append(this.help, this.feedback);
    this.input.setAttribute("aria-describedby", this.helpId);
    this.set(initial);
  }

  helpText() {
    const help = this.spec.help ? optional(`help.${this.key}`) || this.spec.help : "";
    return [help, this.rangeText()].filter(Boolean).join(" · ");
  }

  rangeText() {
    const { type, min, max } = this.spec;
    if (type === "int_list") {
      const bounds = min !== null && min !== undefined ? ` (${t("hp.range", { min, max })})` : "";
      return t("hp.list") + bounds;
    }
    if ((type === "float" || type === "int") && (min !== null || max !== null)) {
      if (min === null || min === undefined) return `≤ ${number(max)}`;
      if (max === null || max === undefined) return `≥ ${number(min)}`;
      return t("hp.range", { min: number(min), max: number(max) });
    }
    return "";
  }

  build() {
    const { type } = this.spec;
    const mark = () => {
      this.dirty = true;
      this.setError(null);
    };
    if (type === "choice") {
      this.input = element("select", "form-select form-select-sm", { id: this.id });
      for (const choice of this.spec.choices) {
        const option = element("option", "", { value: JSON.stringify(choice) });
        option.textContent = String(choice);
        this.input.append(option);
      }
      this.input.addEventListener("change", mark);
      this.control.append(this.input);
      return;
    }
    if (type === "float" || type === "int") {
      this.input = element("input", "form-control form-control-sm hp-number", {
        id: this.id,
        type: "number",
        step: type === "int" ? "1" : "any",
        inputmode: type === "int" ? "numeric" : "decimal",
      });
      this.followsValue = lrLike(this.key, this.spec);
      const slider = (type === "float" && (hasBounds(this.spec) || this.followsValue)) ||
        (type === "int" && hasBounds(this.spec) && this.spec.max - this.spec.min <= 4096);
      if (slider) {
        this.scale = hasBounds(this.spec) ? sliderScale(this.spec) : null;
        this.slider = element("input", "form-range", {
          type: "range",
          min: "0",
          max: String(SLIDER_STEPS),
          step: "1",
          "aria-label": this.key,
          "data-slider": "",
        });
        this.slider.addEventListener("input", () => {
          const v = this.scale.fromPos(Number(this.slider.value));
          this.input.value = type === "float" ? boxText(v) : String(v);
          this.describeSlider();
          mark();
        });
        this.input.addEventListener("input", () => {
          const v = Number(this.input.value);
          if (this.input.value !== "" && Number.isFinite(v)) this.placeSlider(v);
        });
        this.control.append(this.slider);
      } else {
        this.input.classList.remove("hp-number");
      }
      this.input.addEventListener("input", mark);
      this.control.append(this.input);
      return;
    }
    this.input = element("input", "form-control form-control-sm", { id: this.id, type: "text" });
    if (type === "int_list") this.input.setAttribute("inputmode", "numeric");
    this.input.addEventListener("input", mark);
    this.control.append(this.input);
  }

  /** The value to send: typed when it parses, else the text as written. */
  get() {
    const { type } = this.spec;
    const raw = this.input.value;
    if (type === "choice") return JSON.parse(raw);
    if (type === "float" || type === "int") {
      if (raw.trim() === "") return null;
      const v = Number(raw);
      return Number.isFinite(v) ? v : raw;
    }
    if (type === "int_list") {
      const parts = raw.split(/[\s,;]+/).filter(Boolean);
      return parts.length && parts.every((p) => /^-?\d+$/.test(p)) ? parts.map(Number) : raw;
    }
    return raw;
  }

  set(v) {
    const { type } = this.spec;
    if (type === "choice") this.input.value = JSON.stringify(v);
    else if (type === "int_list") this.input.value = Array.isArray(v) ? v.join(", ") : String(v ?? "");
    else this.input.value = v === null || v === undefined ? "" : String(v);
    if (this.slider) this.centreSlider(v);
    this.dirty = false;
    this.setError(null);
  }

  /** set(), with a float shown in full at SHOWN_DIGITS digits (a scheduled lr has many). */
  setRounded(v) {
    const long = this.spec.type === "float" && typeof v === "number" && Number.isFinite(v);
    this.set(long ? Number(v.toPrecision(SHOWN_DIGITS)) : v);
    if (long) this.input.value = boxText(v);
  }

  /** An lr-like slider spans the value it is given; another keeps the schema's range. */
  centreSlider(v) {
    if (this.followsValue) {
      const around = aroundValue(this.spec, v);
      if (around) this.scale = sliderScale(around);
    }
    this.slider.hidden = !this.scale;
    if (typeof v === "number") this.placeSlider(v);
  }

  placeSlider(v) {
    if (!this.scale) return;
    this.slider.value = String(this.scale.toPos(v));
    this.describeSlider();
  }

  describeSlider() {
    const v = this.get();
    this.slider.setAttribute("aria-valuetext", typeof v === "number" ? formatValue(v) : String(v));
  }

  changedFrom(current) {
    return !sameValue(this.get(), current);
  }

  showNow(v) {
    // As the box beside it writes the number (a dot in every language): one form per field.
    const shown = typeof v === "number" && Number.isFinite(v) ? boxText(v) : formatValue(v);
    if (this.now) this.now.textContent = t("hp.now", { value: shown });
    this.nowValue = v;
  }

  setError(message) {
    const bad = Boolean(message);
    this.input.classList.toggle("is-invalid", bad);
    this.feedback.textContent = message || "";
    this.feedback.classList.toggle("d-block", bad);
    if (bad) {
      this.input.setAttribute("aria-invalid", "true");
      this.input.setAttribute("aria-describedby", `${this.helpId} ${this.feedback.id}`);
    } else {
      this.input.removeAttribute("aria-invalid");
      this.input.setAttribute("aria-describedby", this.helpId);
    }
  }

  setDisabled(disabled) {
    this.input.disabled = disabled;
    if (this.slider) this.slider.disabled = disabled;
  }

  refreshLanguage() {
    this.help.textContent = this.helpText();
    if (this.nowValue !== undefined) this.showNow(this.nowValue);
  }
}
