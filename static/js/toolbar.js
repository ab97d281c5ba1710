// The toolbar over a view's charts (templates/_chart_toolbar.html view_toolbar): smoothing,
// step or time on x and zoom reset, applied to every chart the view shows at the time.
import { language, onLanguageChange } from "./i18n.js";

/** The smoothing factor as the page's numbers read: 0.60, in German 0,60. */
const factor = (v) => v.toLocaleString(language(), { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export class ChartToolbar {
  /** prefix: the toolbar's id prefix ("" in the run view, "cmp-" in compare); charts() -> MetricCharts. */
  constructor(prefix, charts) {
    this.charts = charts;
    const slider = document.getElementById(`${prefix}smoothing`);
    const output = document.getElementById(`${prefix}smoothing-value`);
    this.smoothing = Number(slider.value);
    this.xMode = "step";
    slider.addEventListener("input", () => {
      this.smoothing = Number(slider.value);
      output.textContent = factor(this.smoothing);
      for (const chart of this.charts()) chart.setSmoothing(this.smoothing);
    });
    output.textContent = factor(this.smoothing);
    onLanguageChange(() => {
      output.textContent = factor(this.smoothing);
    });
    for (const radio of document.querySelectorAll(`input[name="${prefix}xmode"]`)) {
      radio.addEventListener("change", () => {
        this.xMode = radio.value;
        for (const chart of this.charts()) chart.setXMode(this.xMode);
      });
    }
    document.getElementById(`${prefix}zoom-reset`).addEventListener("click", () => this.resetZoom());
  }

  resetZoom() {
    for (const chart of this.charts()) chart.resetZoom();
  }
}
