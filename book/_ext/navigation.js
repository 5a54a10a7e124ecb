// Open the navigation drawer and the page contents from the buttons readers see.
//
// pydata-sphinx-theme 0.17 opens its drawers (<dialog> elements) from the
// first .primary-toggle and .secondary-toggle on the page, which are buttons
// in its own top bar; sphinx-book-theme 1.3 hides that bar's buttons and adds
// its own with the same classes in the article header, and binds its own
// handler to the same hidden button (pydata-sphinx-theme#2451,
// sphinx-book-theme#988). The visible buttons therefore did nothing. This
// handler runs first (capture phase on window) for every such button and
// does what the theme meant: move the sidebar into its dialog and open it;
// pydata-sphinx-theme's own listeners on the dialog close it (Escape, a click
// outside) and move the sidebar back.
(function () {
  function move(from, to) {
    Array.from(from.childNodes).forEach(function (node) { to.appendChild(node); });
    Array.from(from.classList).forEach(function (name) {
      from.classList.remove(name);
      to.classList.add(name);
    });
  }

  window.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".primary-toggle, .secondary-toggle");
    if (!button) return;
    var which = button.classList.contains("primary-toggle") ? "primary" : "secondary";
    var sidebar = document.getElementById("pst-" + which + "-sidebar");
    var dialog = document.getElementById("pst-" + which + "-sidebar-modal");
    if (!sidebar || !dialog || dialog.open) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    button.blur();
    move(sidebar, dialog);
    dialog.showModal();
    dialog.addEventListener("close", function () {
      // A no-op when the theme has already moved everything back.
      move(dialog, sidebar);
      button.focus();
    }, {once: true});
  }, true);
})();
