// Bar charts with Chart.js (only the parts a bar chart needs are registered). Each chart is an
// image with a text label; the page gives the same figures as a table beside it.

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  Tooltip,
} from "chart.js";
import { useEffect, useRef } from "preact/hooks";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

/** Colours with at least 4.5:1 contrast on white, told apart by more than hue. */
const COLOURS = ["#1d4e89", "#a14d00", "#2e6b30", "#6a3d8f"];

export interface Series {
  label: string;
  values: number[];
}

export function BarChart({
  label,
  categories,
  series,
  max,
  percent,
}: {
  label: string;
  categories: string[];
  series: Series[];
  max?: number;
  percent?: boolean;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const key = JSON.stringify([label, categories, series, max, percent]);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: categories,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.values,
          backgroundColor: COLOURS[i % COLOURS.length],
          borderColor: "#1b1b1b",
          borderWidth: i === 0 ? 0 : 1,
        })),
      },
      options: {
        indexAxis: "y",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: series.length > 1, labels: { color: "#1b1b1b" } } },
        scales: {
          x: {
            min: 0,
            max,
            ticks: {
              color: "#1b1b1b",
              callback: (v) => (percent ? `${Math.round(Number(v) * 100)} %` : String(v)),
            },
          },
          y: { ticks: { color: "#1b1b1b" } },
        },
      },
    });
    return () => chart.destroy();
  }, [key]);
  const height = Math.max(120, categories.length * (22 + 12 * series.length) + 50);
  return (
    <div class="chart" style={{ height: `${height}px` }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
