// Figures on narrow screens. The chapters' figures are SVG drawn for the
// desktop column (768 px); a phone's column is 342 px, and shrinking a wide
// figure to fit would make its labels too small to read. So a figure is
// never shown below MIN_SCALE of its drawn size: where that is wider than
// the column, the figure scrolls sideways in its own box (the caption and
// the text around it stay put), like a wide table. book/matplotlibrc sizes
// the fonts for this scale; tests/test_site_build.py measures the result.
(function () {
  var MIN_SCALE = 0.55;

  function fit(img) {
    if (!img.naturalWidth || img.closest(".widget-subarea")) return;
    img.style.minWidth = Math.round(img.naturalWidth * MIN_SCALE) + "px";
    if (!img.parentElement.classList.contains("rnnbook-figure-scroll")) {
      var box = document.createElement("div");
      box.className = "rnnbook-figure-scroll";
      img.parentElement.insertBefore(box, img);
      box.appendChild(img);
    }
  }

  function start() {
    document.querySelectorAll("main .cell_output img").forEach(function (img) {
      if (img.complete) fit(img);
      else img.addEventListener("load", function () { fit(img); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
