// Prepare the page for the ipywidgets embed manager (loaded right after this).
(function () {
  // The widget bundles find their fonts next to the AMD module they were
  // loaded as; point that module at this folder (_static/widgets/), where
  // the fonts are, instead of a path relative to the page.
  var here = document.currentScript.src;
  window.require.config({
    paths: {"@jupyter-widgets/html-manager/dist": here.slice(0, here.lastIndexOf("/"))},
  });
  // The widgets typeset their labels through the MathJax 2 API; the site
  // uses MathJax 3, so route those calls to it.
  document.addEventListener("DOMContentLoaded", function () {
    var mj = window.MathJax;
    if (mj && mj.typesetPromise && !mj.Hub) {
      mj.Hub = {
        Queue: function (job) {
          var element = job && job[2];
          return mj.startup.promise.then(function () {
            return element ? mj.typesetPromise([element]) : undefined;
          });
        },
      };
    }
  });
})();
