// The Signals page's chart: fetch the downsampled series and draw min, max and mean with uPlot.
(function () {
  "use strict";
  var box = document.getElementById("chart");
  if (!box) { return; }
  var note = document.getElementById("chart-note");
  fetch(box.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) {
      if (!r.ok) { return r.text().then(function (t) { throw new Error(r.status + ": " + t); }); }
      return r.json();
    })
    .then(function (s) {
      if (!s.t.length) { note.textContent = "No values stored yet."; return; }
      var unit = s.unit ? " [" + s.unit + "]" : "";
      var opts = {
        width: Math.max(320, box.clientWidth - 8),
        height: 320,
        series: [
          {},
          { label: "min" + unit, stroke: "#9fb8d3" },
          { label: "max" + unit, stroke: "#9fb8d3" },
          { label: "mean" + unit, stroke: "#1f4e79", width: 2 }
        ],
        scales: { x: { time: true } }
      };
      new uPlot(opts, [s.t, s.min, s.max, s.mean], box);
      note.textContent = s.t.length + " points" +
        (s.every_s ? ", each the min, max and mean of " + s.every_s.toPrecision(3) + " s" : ", raw values");
    })
    .catch(function (e) { note.textContent = "Could not load the series: " + e.message; });
})();
