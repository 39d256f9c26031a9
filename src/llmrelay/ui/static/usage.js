// Draws the usage charts from the JSON API named by #charts[data-source]. The page is complete
// without this script (its tables carry every figure); the charts are an addition.
(function () {
  "use strict";

  var root = document.getElementById("charts");
  if (!root || !window.Plotly) {
    return;
  }
  var status = root.querySelector(".chart-status");
  var colours = { prompt: "#2459c7", completion: "#f29d38", failure: "#c4302b", ok: "#3a8f5c" };
  var config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function layout(extra) {
    var base = {
      margin: { l: 56, r: 12, t: 8, b: 40 },
      legend: { orientation: "h", y: -0.2 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, sans-serif", size: 12 },
      hovermode: "x unified",
    };
    return Object.assign(base, extra || {});
  }

  function column(rows, name) {
    return rows.map(function (row) { return row[name]; });
  }

  function bars(x, y, name, colour) {
    return { type: "bar", x: x, y: y, name: name, marker: { color: colour } };
  }

  function draw(data) {
    var times = column(data.buckets, "start");
    var timeAxis = { xaxis: { type: "date" } };
    Plotly.newPlot("chart-tokens", [
      bars(times, column(data.buckets, "prompt_tokens"), "Prompt", colours.prompt),
      bars(times, column(data.buckets, "completion_tokens"), "Completion", colours.completion),
    ], layout(Object.assign({ barmode: "stack" }, timeAxis)), config);

    var failures = column(data.buckets, "failures");
    var successes = column(data.buckets, "executions").map(function (n, i) { return n - failures[i]; });
    Plotly.newPlot("chart-executions", [
      bars(times, successes, "Succeeded", colours.ok),
      bars(times, failures, "Failed", colours.failure),
    ], layout(Object.assign({ barmode: "stack" }, timeAxis)), config);

    Plotly.newPlot("chart-latency", [
      { type: "scatter", mode: "lines+markers", x: times, y: column(data.buckets, "p50_ms"), name: "p50", connectgaps: false },
      { type: "scatter", mode: "lines+markers", x: times, y: column(data.buckets, "p95_ms"), name: "p95", connectgaps: false },
    ], layout(Object.assign({ yaxis: { rangemode: "tozero", ticksuffix: " ms" } }, timeAxis)), config);

    var models = data.models.map(function (m) { return m.model || "(unknown)"; });
    Plotly.newPlot("chart-models", [
      bars(models, column(data.models, "prompt_tokens"), "Prompt", colours.prompt),
      bars(models, column(data.models, "completion_tokens"), "Completion", colours.completion),
    ], layout({ barmode: "stack", hovermode: "closest" }), config);

    if (document.getElementById("chart-connectors")) {
      var names = column(data.connectors, "name");
      Plotly.newPlot("chart-connectors", [
        bars(names, column(data.connectors, "prompt_tokens"), "Prompt", colours.prompt),
        bars(names, column(data.connectors, "completion_tokens"), "Completion", colours.completion),
      ], layout({ barmode: "stack", hovermode: "closest" }), config);
    }
    var table = document.getElementById("over-time");
    if (table) {
      table.open = false; // the charts show the same figures; the table stays one click away
    }
    root.dataset.drawn = "true";
  }

  root.hidden = false;
  status.textContent = "Loading charts…";
  fetch(root.dataset.source, { headers: { accept: "application/json" }, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("the server answered " + response.status);
      }
      return response.json();
    })
    .then(function (data) {
      status.textContent = "";
      draw(data);
    })
    .catch(function (error) {
      status.textContent = "The charts could not be drawn (" + error.message + "); the tables below have every figure.";
      root.dataset.drawn = "false";
    });
})();
