// Search result snippets from the body text of a page.
//
// Sphinx's search page cuts each snippet out of the text of the page's
// [role="main"] element. In this theme that element also holds the page's
// contents list, and its text includes the TeX source of every formula, so
// snippets showed a list of section titles or raw TeX. Read the article
// instead, without its contents list, formulas, code prompts or buttons.
(function () {
  if (typeof Search === "undefined") return;
  var drop = [".headerlink", "script", "style", "nav", ".bd-toc", ".bd-sidebar-secondary",
              "button", ".toggle-hidden"];
  Search.htmlToText = function (htmlString, anchor) {
    var page = new DOMParser().parseFromString(htmlString, "text/html");
    drop.forEach(function (query) {
      page.querySelectorAll(query).forEach(function (el) { el.remove(); });
    });
    // A formula becomes an ellipsis rather than its TeX source.
    page.querySelectorAll(".math, mjx-container").forEach(function (el) {
      el.replaceWith("…");
    });
    var root = page.querySelector("article") || page.querySelector('[role="main"]');
    if (!root) return "";
    var part = anchor ? root.querySelector(anchor) : null;
    return (part || root).textContent.replace(/\s+/g, " ");
  };
})();
