// The Plant page refreshes itself: keep the tree's folded levels folded across refreshes.
(function () {
  "use strict";
  var folded = {};
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target.id !== "plant") { return; }
    folded = {};
    document.querySelectorAll("#plant details[data-node]").forEach(function (d) {
      if (!d.open) { folded[d.dataset.node] = true; }
    });
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "plant") { return; }
    document.querySelectorAll("#plant details[data-node]").forEach(function (d) {
      if (folded[d.dataset.node]) { d.open = false; }
    });
  });
})();
