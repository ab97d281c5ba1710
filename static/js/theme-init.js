// Classic script in <head>: set the theme before first paint (modules run too late for that).
(function () {
  var theme = null;
  try { theme = localStorage.getItem("lernkurve.theme"); } catch (e) { /* storage off */ }
  if (theme !== "light" && theme !== "dark") {
    theme = window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  document.documentElement.setAttribute("data-bs-theme", theme);
})();
