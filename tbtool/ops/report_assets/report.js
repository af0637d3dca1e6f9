// tbtool report: draws the charts of the JSON document in #tbtool-data with Plotly (inlined
// before this script). Works offline from a file:// URL: no fetch, no server.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("tbtool-data").textContent);
  const charts = [];  // {div, kind, series}
  const state = { smoothing: 0.6, log: false, filter: null };

  function decode(b64, type) {
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return type === "f8" ? new Float64Array(bytes.buffer)
      : type === "i4" ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
  }

  function color(i) {  // golden-angle hues: distinct colours for any number of runs
    return "hsl(" + Math.round((i * 137.508) % 360) + ",65%,45%)";
  }

  // TensorBoard's smoothing: a debiased exponential moving average over the drawn points.
  function smooth(values, weight) {
    const out = new Array(values.length);
    let last = 0, count = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) { out[i] = v; continue; }
      last = last * weight + (1 - weight) * v;
      count++;
      out[i] = weight === 1 ? v : last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  function visible(run) {
    return state.filter === null || state.filter.test(data.runs[run]);
  }

  function scalarTraces(chart) {
    return chart.series.map(function (s) {
      const raw = Array.from(decode(s.y, "f4"));
      return {  // markers too when few points: a one-point series is otherwise invisible
        type: "scatter", mode: raw.length <= 30 ? "lines+markers" : "lines", name: data.runs[s.run],
        marker: { size: 4 },
        x: Array.from(decode(s.x, s.xt)), y: state.smoothing > 0 ? smooth(raw, state.smoothing) : raw,
        customdata: raw, line: { color: color(s.run), width: 1.5 },
        visible: visible(s.run) ? true : false,
        hovertemplate: "%{fullData.name}<br>step %{x}<br>value %{customdata:.6g}" +
          (state.smoothing > 0 ? "<br>smoothed %{y:.6g}" : "") + "<extra></extra>",
      };
    });
  }

  function layout(title, extra) {
    return Object.assign({
      title: { text: title, font: { size: 14 } }, height: 320,
      margin: { l: 60, r: 20, t: 40, b: 40 }, hovermode: "closest",
      showlegend: data.runs.length <= 12, legend: { font: { size: 10 } },
      xaxis: { title: { text: "step" } },
      yaxis: { type: state.log ? "log" : "linear", exponentformat: "e" },
    }, extra || {});
  }

  const config = { responsive: true, displaylogo: false };

  function drawScalar(div, chart) {
    chart.traces = scalarTraces(chart);
    return Plotly.newPlot(div, chart.traces, layout(chart.tag), config);
  }

  function bandTraces(chart, index) {
    const s = chart.series[index];
    const x = Array.from(decode(s.x, s.xt));
    const all = decode(s.bands, "f4"), n = x.length, traces = [];
    const p = function (k) { return Array.from(all.subarray(k * n, (k + 1) * n)); };
    const hue = Math.round((s.run * 137.508) % 360);
    for (let k = 0; k < 4; k++) {
      const fill = "hsla(" + hue + ",65%,45%," + (0.15 + 0.15 * k) + ")";
      traces.push({ type: "scatter", mode: "lines", x: x, y: p(k), line: { width: 0 },
        hoverinfo: "skip", showlegend: false });
      traces.push({ type: "scatter", mode: "lines", x: x, y: p(8 - k), fill: "tonexty",
        fillcolor: fill, line: { width: 0 }, hoverinfo: "skip", showlegend: false });
    }
    traces.push({ type: "scatter", mode: "lines", x: x, y: p(4), name: "median",
      line: { color: color(s.run), width: 1.5 }, showlegend: false,
      hovertemplate: "step %{x}<br>median %{y:.6g}<extra></extra>" });
    return traces;
  }

  function drawHistogram(div, chart, index) {
    return Plotly.newPlot(div, bandTraces(chart, index),
      layout(chart.tag + " (" + data.runs[chart.series[index].run] + ")",
        { showlegend: false, yaxis: { exponentformat: "e" } }), config);
  }

  let pending = null;
  function restyleAll() {  // debounced: a slider sends many events while it moves
    clearTimeout(pending);
    pending = setTimeout(redraw, 120);
  }

  function redraw() {
    charts.forEach(function (c) {
      if (c.kind !== "scalar") return;
      Plotly.react(c.div, scalarTraces(c.chart), layout(c.chart.tag), config);
    });
  }

  function sortable(table) {
    table.querySelectorAll("th").forEach(function (th, column) {
      th.addEventListener("click", function () {
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const ascending = th.dataset.order !== "asc";
        table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
        th.dataset.order = ascending ? "asc" : "desc";
        rows.sort(function (a, b) {
          const x = JSON.parse(a.dataset.values)[column], y = JSON.parse(b.dataset.values)[column];
          if (x === null) return y === null ? 0 : 1;
          if (y === null) return -1;
          const order = typeof x === "number" && typeof y === "number" ? x - y
            : String(x).localeCompare(String(y), undefined, { numeric: true });
          return ascending ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function buildTable(target, table) {
    const el = document.createElement("table");
    const head = el.createTHead().insertRow();
    table.headers.forEach(function (h) {
      const th = document.createElement("th"); th.textContent = h; th.title = "sort"; head.appendChild(th);
    });
    const body = el.createTBody();
    table.cells.forEach(function (cells, i) {
      const row = body.insertRow();
      row.dataset.values = JSON.stringify(table.values[i]);
      cells.forEach(function (text, j) {
        const td = row.insertCell(); td.textContent = text;
        if (j === 0 && data.runs.indexOf(text) >= 0) {
          td.style.borderLeft = "4px solid " + color(data.runs.indexOf(text));
        }
      });
    });
    target.appendChild(el);
    sortable(el);
  }

  function section(id) { return document.getElementById(id); }

  function chartDiv(parent) {
    const div = document.createElement("div"); div.className = "chart"; parent.appendChild(div); return div;
  }

  async function render() {
    const started = performance.now();
    if (data.summary) buildTable(section("summary-table"), data.summary);
    if (data.hparams) buildTable(section("hparams-table"), data.hparams);
    const scalars = section("scalars");
    for (const chart of data.scalars) {
      const div = chartDiv(scalars);
      charts.push({ div: div, kind: "scalar", chart: chart });
      await drawScalar(div, chart);
      await new Promise(function (resolve) { setTimeout(resolve, 0); });
    }
    const histograms = section("histograms");
    for (const chart of data.histograms) {
      const box = document.createElement("div"); histograms.appendChild(box);
      const select = document.createElement("select");
      chart.series.forEach(function (s, i) {
        const option = document.createElement("option"); option.value = i; option.textContent = data.runs[s.run];
        select.appendChild(option);
      });
      const label = document.createElement("label"); label.textContent = chart.tag + " run: ";
      label.appendChild(select); box.appendChild(label);
      const div = chartDiv(box);
      charts.push({ div: div, kind: "histogram", chart: chart });
      select.addEventListener("change", function () { drawHistogram(div, chart, Number(select.value)); });
      await drawHistogram(div, chart, 0);
    }
    const images = section("images");
    data.images.forEach(function (tag) {
      const h = document.createElement("h3"); h.textContent = tag.tag; images.appendChild(h);
      const row = document.createElement("div"); row.className = "images"; images.appendChild(row);
      tag.items.forEach(function (item) {
        const figure = document.createElement("figure");
        const img = document.createElement("img"); img.src = item.src; img.alt = tag.tag;
        const caption = document.createElement("figcaption");
        caption.textContent = item.run + " · step " + item.step;
        figure.appendChild(img); figure.appendChild(caption); row.appendChild(figure);
      });
      if (tag.more) {
        const more = document.createElement("p"); more.textContent = tag.more + " more run(s) not shown";
        images.appendChild(more);
      }
    });
    document.body.dataset.charts = String(charts.length);
    document.body.dataset.renderMs = String(Math.round(performance.now() - started));
  }

  document.getElementById("smoothing").addEventListener("input", function (e) {
    state.smoothing = Number(e.target.value);
    document.getElementById("smoothing-value").textContent = state.smoothing.toFixed(2);
    restyleAll();
  });
  document.getElementById("log-scale").addEventListener("change", function (e) {
    state.log = e.target.checked; restyleAll();
  });
  document.getElementById("run-filter").addEventListener("input", function (e) {
    try { state.filter = e.target.value ? new RegExp(e.target.value) : null; } catch (err) { return; }
    restyleAll();
  });
  render().catch(function (error) {
    console.error("tbtool report: " + error);
    document.body.dataset.failed = String(error);
  });
})();
