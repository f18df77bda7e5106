// Inline SVG sparklines: a price line over its recent range, with the session's open as a
// dashed baseline.

import { createSvg } from "./dom.js";

const WIDTH = 160;
const HEIGHT = 36;
const PAD = 3;

/** Creates an empty sparkline SVG. */
export function createSparkline(label) {
  const svg = createSvg("svg", {
    class: "sparkline",
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
  });
  svg.setAttribute("aria-label", label);
  svg.append(
    createSvg("line", { class: "spark-base", x1: 0, x2: WIDTH, y1: HEIGHT / 2, y2: HEIGHT / 2 }),
    createSvg("path", { class: "spark-area", d: "" }),
    createSvg("polyline", { class: "spark-line", points: "" }),
    // A zero-length round-capped stroke: stays a round dot however the SVG is stretched.
    createSvg("path", { class: "spark-dot", d: "" }),
  );
  return svg;
}

/**
 * Draws `values` (oldest first; at most `capacity` are spread over the full width) and the
 * `baseline` (e.g. the open price) when it is within reach.
 */
export function drawSparkline(svg, values, baseline, capacity = 60) {
  const line = svg.querySelector(".spark-line");
  const area = svg.querySelector(".spark-area");
  const dot = svg.querySelector(".spark-dot");
  const base = svg.querySelector(".spark-base");
  if (values.length === 0) return;
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (baseline !== null) {
    low = Math.min(low, baseline);
    high = Math.max(high, baseline);
  }
  if (high - low < 1e-9) {
    high += 0.5;
    low -= 0.5;
  }
  const step = WIDTH / Math.max(1, capacity - 1);
  const offset = WIDTH - (values.length - 1) * step;
  const y = (value) => PAD + (HEIGHT - 2 * PAD) * (1 - (value - low) / (high - low));
  const points = values.map((value, index) => [offset + index * step, y(value)]);
  const pointText = points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
  line.setAttribute("points", pointText);
  const [firstX] = points[0];
  const [lastX, lastY] = points[points.length - 1];
  area.setAttribute(
    "d",
    `M${firstX.toFixed(1)},${HEIGHT} L${pointText.replaceAll(" ", " L")} L${
      lastX.toFixed(1)
    },${HEIGHT} Z`,
  );
  dot.setAttribute("d", `M${lastX.toFixed(1)},${lastY.toFixed(1)}h0`);
  if (baseline !== null) {
    const baseY = y(baseline).toFixed(1);
    base.setAttribute("y1", baseY);
    base.setAttribute("y2", baseY);
  }
  svg.dataset.points = String(values.length);
}
