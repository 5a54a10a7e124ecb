// Draw the book's explorers (Vega-Lite charts written into the page as JSON
// by rnnbook.book.explorers) with the Vega scripts this site serves itself
// (_static/explorers/vega-all.js, see offline_assets.py).
(function () {
  function dark() {
    return document.documentElement.dataset.theme === "dark";
  }

  function embed(box, spec) {
    var options = {
      renderer: "svg",
      actions: false,          // no export menu and no link to an online editor
      theme: dark() ? "dark" : undefined,
      // The page's own background shows through in both themes.
      config: {background: null},
    };
    return window.vegaEmbed(box.querySelector(".rnnbook-explorer-view"), spec, options)
      .then(function (result) {
        box.rnnbookView = result.view;
        var svg = box.querySelector("svg");
        if (svg) {
          svg.setAttribute("role", "img");
          svg.setAttribute("aria-label", spec.description || "interactive chart");
          // On a phone the chart shrinks to the column, but not below 0.55 of
          // its size (as the figures, book/_ext/figures.js); beyond that its
          // box scrolls sideways.
          var drawn = parseFloat(svg.getAttribute("width"));
          if (drawn) svg.style.minWidth = Math.round(drawn * 0.55) + "px";
        }
      });
  }

  function start() {
    var boxes = [].slice.call(document.querySelectorAll(".rnnbook-explorer"));
    boxes.forEach(function (box) {
      var spec = JSON.parse(box.querySelector(".rnnbook-explorer-spec").textContent);
      var view = document.createElement("div");
      view.className = "rnnbook-explorer-view";
      box.appendChild(view);
      box.rnnbookSpec = spec;
      embed(box, spec);
    });
    // Redraw in the other colours when the reader switches light/dark,
    // keeping the controls where they were.
    var theme = dark();
    new MutationObserver(function () {
      if (dark() === theme) return;
      theme = dark();
      boxes.forEach(function (box) {
        var spec = JSON.parse(JSON.stringify(box.rnnbookSpec));
        if (box.rnnbookView) {
          (spec.params || []).forEach(function (p) {
            if (p.bind) p.value = box.rnnbookView.signal(p.name);
          });
          box.rnnbookView.finalize();
        }
        box.querySelector(".rnnbook-explorer-view").innerHTML = "";
        embed(box, spec);
      });
    }).observe(document.documentElement, {attributes: true, attributeFilter: ["data-theme"]});
  }

  // vega-all.js, loaded just before this file, defines vegaEmbed.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
