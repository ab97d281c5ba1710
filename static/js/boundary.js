// The spiral's decision boundary, TensorFlow-Playground style: each grid cell coloured by the
// class probabilities, saturated by confidence, with the training points on top.
import { integer } from "./format.js";
import { t } from "./i18n.js";
import { cssVar } from "./theme.js";

const CLASS_COLORS = [
  [245, 147, 34],
  [8, 119, 189],
  [47, 158, 68],
  [214, 51, 132],
  [121, 80, 242],
  [230, 73, 73],
];

export class BoundaryView {
  constructor() {
    this.card = document.getElementById("boundary-card");
    this.canvas = document.getElementById("boundary-canvas");
    this.stepEl = document.getElementById("boundary-step");
    this.waiting = document.getElementById("boundary-waiting");
    this.grid = document.createElement("canvas");
    this.snapshot = null;
    this.frame = null;
  }

  /** Show the card (for runs that log boundary snapshots) or hide it. */
  setVisible(visible) {
    this.card.hidden = !visible;
    if (!visible) this.clear();
  }

  clear() {
    this.snapshot = null;
    this.waiting.hidden = false;
    this.stepEl.textContent = "";
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.canvas.removeAttribute("aria-label");
  }

  /** A snapshot object ({step, payload: {n, extent, classes, probs, points}}); drawn on next frame. */
  show(snapshot) {
    if (!snapshot || (this.snapshot && snapshot.step < this.snapshot.step)) return;
    this.snapshot = snapshot;
    this.card.hidden = false;
    if (this.frame === null) {
      this.frame = requestAnimationFrame(() => {
        this.frame = null;
        this.draw();
      });
    }
  }

  draw() {
    const snap = this.snapshot;
    if (!snap) return;
    const { n, extent, classes, probs, points = [] } = snap.payload;
    const [xmin, xmax, ymin, ymax] = extent;
    this.grid.width = n;
    this.grid.height = n;
    const gctx = this.grid.getContext("2d");
    const image = gctx.createImageData(n, n);
    const dark = document.documentElement.getAttribute("data-bs-theme") === "dark";
    const base = dark ? 33 : 255;
    for (let row = 0; row < n; row++) {
      // Rows run from ymin upwards; the canvas draws from the top down.
      const y = n - 1 - row;
      for (let col = 0; col < n; col++) {
        const offset = (row * n + col) * classes;
        let r = 0;
        let g = 0;
        let b = 0;
        let best = 0;
        for (let c = 0; c < classes; c++) {
          const p = probs[offset + c];
          const color = CLASS_COLORS[c % CLASS_COLORS.length];
          r += p * color[0];
          g += p * color[1];
          b += p * color[2];
          if (p > best) best = p;
        }
        // Confidence 1/classes (undecided) .. 1 (certain) sets how far we leave the background.
        const strength = classes > 1 ? ((best - 1 / classes) / (1 - 1 / classes)) * 0.75 : 0.75;
        const i = (y * n + col) * 4;
        image.data[i] = base + (r - base) * strength;
        image.data[i + 1] = base + (g - base) * strength;
        image.data[i + 2] = base + (b - base) * strength;
        image.data[i + 3] = 255;
      }
    }
    gctx.putImageData(image, 0, 0);
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(this.grid, 0, 0, width, height);
    const stroke = cssVar("--bs-body-bg") || "#fff";
    for (const [px, py, label] of points) {
      const cx = ((px - xmin) / (xmax - xmin)) * width;
      const cy = height - ((py - ymin) / (ymax - ymin)) * height;
      const [r, g, b] = CLASS_COLORS[label % CLASS_COLORS.length];
      ctx.beginPath();
      ctx.arc(cx, cy, 3, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = stroke;
      ctx.stroke();
    }
    this.waiting.hidden = true;
    this.stepEl.textContent = t("boundary.step", { step: integer(snap.step) });
    this.canvas.setAttribute("aria-label", t("boundary.aria", { step: integer(snap.step), classes }));
    this.canvas.dataset.step = String(snap.step);
  }
}
