// System gauges (CPU, memory, disk as SVG rings) and the network in/out chart (last 60 samples).
// A metric the server cannot read arrives as null and is shown as "n/a", never as 0.

import { byId, finite, formatClock, formatPercent, formatRate, setText } from "./dom.js";

const SAMPLES = 60;
const CHART_WIDTH = 300;
const CHART_HEIGHT = 90;

const network = { in: [], out: [] };

function showGauge(name, value) {
  const gauge = byId(`gauge-${name}`);
  const fill = gauge.querySelector(".gauge-fill");
  const percent = value === null ? null : Math.min(100, Math.max(0, value));
  setText(byId(`${name}-value`), formatPercent(percent));
  fill.setAttribute("stroke-dasharray", `${percent ?? 0} ${100 - (percent ?? 0)}`);
  gauge.dataset.level = percent === null
    ? "na"
    : percent >= 90
    ? "high"
    : percent >= 70
    ? "warn"
    : "ok";
}

/** A round number ≥ value for the chart's top: 1, 2, 2.5 or 5 × a power of ten, at least 1 KiB. */
function niceMax(value) {
  const floor = 1024;
  if (value <= floor) return floor;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const factor of [1, 2, 2.5, 5, 10]) {
    if (factor * magnitude >= value) return factor * magnitude;
  }
  return 10 * magnitude;
}

/** An SVG path through the samples (newest at the right edge), broken where a sample is null. */
function linePath(samples, top) {
  const step = CHART_WIDTH / (SAMPLES - 1);
  const offset = CHART_WIDTH - (samples.length - 1) * step;
  let path = "";
  let drawing = false;
  samples.forEach((value, index) => {
    if (value === null) {
      drawing = false;
      return;
    }
    const x = (offset + index * step).toFixed(1);
    const y = (CHART_HEIGHT - 2 - (CHART_HEIGHT - 6) * Math.min(1, value / top)).toFixed(1);
    path += `${drawing ? "L" : "M"}${x},${y} `;
    drawing = true;
  });
  return path.trim();
}

/** Closes each run of the line down to the axis, for the filled area under "in". */
function areaPath(line) {
  return line
    .split("M")
    .filter((run) => run.trim() !== "")
    .map((run) => {
      const points = run.trim().split(/\s*L/);
      const firstX = points[0].split(",")[0];
      const lastX = points[points.length - 1].split(",")[0];
      return `M${firstX},${CHART_HEIGHT} L${points.join(" L")} L${lastX},${CHART_HEIGHT} Z`;
    })
    .join(" ");
}

function showNetwork(bytesIn, bytesOut) {
  network.in.push(bytesIn);
  network.out.push(bytesOut);
  if (network.in.length > SAMPLES) network.in.shift();
  if (network.out.length > SAMPLES) network.out.shift();
  const known = [...network.in, ...network.out].filter((value) => value !== null);
  const top = niceMax(known.length ? Math.max(...known) : 0);
  const inLine = linePath(network.in, top);
  byId("net-in-line").setAttribute("d", inLine);
  byId("net-in-area").setAttribute("d", inLine ? areaPath(inLine) : "");
  byId("net-out-line").setAttribute("d", linePath(network.out, top));
  byId("net-chart").dataset.samples = String(network.in.length);
  setText(byId("net-in-value"), formatRate(bytesIn));
  setText(byId("net-out-value"), formatRate(bytesOut));
  setText(byId("net-scale"), known.length ? `scale ${formatRate(top)}` : "");
  const empty = byId("net-empty");
  empty.hidden = known.length > 0;
  setText(empty, "network rates n/a on this host");
}

/** Forgets the network samples drawn so far: the server replays its history instead. */
export function forgetNetworkSamples() {
  network.in.length = 0;
  network.out.length = 0;
}

/** Shows one `metrics` event. */
export function showMetrics(data) {
  showGauge("cpu", finite(data.cpu));
  showGauge("memory", finite(data.memory));
  showGauge("disk", finite(data.disk));
  const net = data.network && typeof data.network === "object" ? data.network : {};
  showNetwork(finite(net.bytesInPerSec), finite(net.bytesOutPerSec));
  const load = Array.isArray(data.loadAverage) ? data.loadAverage.map(finite) : null;
  setText(
    byId("load-value"),
    load && load.length === 3 && load.every((value) => value !== null)
      ? load.map((value) => value.toFixed(2)).join(" · ")
      : "n/a",
  );
  const cores = finite(data.cores);
  setText(byId("cores-value"), cores === null ? "n/a" : String(cores));
  const time = formatClock(data.time);
  setText(byId("system-time"), time);
  setText(byId("system-meta"), `sample at ${time}`);
}
