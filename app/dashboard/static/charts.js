// Charts drawn with plotly.js (a classic script the chart pages load before their module;
// it sets window.Plotly). Labels, legends, tooltips and numbers follow the language: tick
// numbers through Plotly's separators, tooltips through fmtNumber, Plotly's own words (its
// toolbar) through a locale registered from the message catalogs.

import { $, el } from "./dom.js";
import { fmtNumber, lang, separators, t } from "./i18n.js";

const FONT =
  'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", ' +
  '"Liberation Sans", sans-serif';
export const COLORS = { unique: "#0033a0", sum: "#5b92e5" };
export const SECTOR_COLORS = {
  shelter: "#0033a0",
  wash: "#2a9fd6",
  cccm: "#f4a11d",
  cash: "#3a9b54",
  health: "#c8102e",
};
const GRID = "#e5e9f0";
// Plotly's words on these charts, by the English Plotly uses as their key.
const PLOTLY_WORDS = {
  "Download plot as a PNG": "chart.plotly.download",
  "Download plot": "chart.plotly.download",
  Zoom: "chart.plotly.zoom",
  Pan: "chart.plotly.pan",
  "Zoom in": "chart.plotly.zoomIn",
  "Zoom out": "chart.plotly.zoomOut",
  Autoscale: "chart.plotly.autoscale",
  "Reset axes": "chart.plotly.reset",
  "Preparing image - this may take a few seconds": "chart.plotly.preparing",
  "Image download succeeded": "chart.plotly.downloaded",
  "Sorry, there was a problem downloading your image!": "chart.plotly.downloadFailed",
  "Double-click to zoom back out": "chart.plotly.doubleClick",
  "Double-click on legend to isolate one trace": "chart.plotly.isolate",
};

/** The locale Plotly uses for its own words, registered for the current language. */
function plotlyLocale() {
  const name = `ct-${lang()}`;
  const dictionary = Object.fromEntries(Object.entries(PLOTLY_WORDS).map(([en, key]) => [en, t(key)]));
  window.Plotly.register({ moduleType: "locale", name, dictionary });
  return name;
}

/** A label as Plotly writes it: a line break in a short name becomes <br>. Plotly's labels
 * take a few tags; anything else in a name (from the API) is shown as text. */
function label(text) {
  return String(text).replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll("\n", "<br>");
}

/** Says in the chart's place that the view has no data, instead of drawing blank axes. */
function noData(node) {
  if (window.Plotly && node.classList.contains("js-plotly-plot")) window.Plotly.purge(node);
  node.replaceChildren(el("p", { class: "muted empty" }, t("chart.noData")));
  node.dataset.empty = "true";
}

/** Draws traces in the element id (or says there is no data); config adds to Plotly's
 * configuration. Returns Plotly's promise (resolved at once when nothing is drawn). */
export function chart(id, traces, layout, config) {
  const node = $(id);
  if (!traces.length || traces.every((tr) => !(tr.x || tr.locations || []).length)) {
    noData(node);
    return Promise.resolve();
  }
  delete node.dataset.empty;
  if (node.querySelector(":scope > p.empty")) node.replaceChildren();
  if (!window.Plotly) {
    node.replaceChildren(el("p", { class: "muted" }, t("chart.unavailable")));
    return Promise.resolve();
  }
  const { decimal, group } = separators();
  const narrow = node.clientWidth < 480;
  return window.Plotly.react(
    node,
    traces,
    {
      font: { family: FONT, size: 12, color: "#1d2330" },
      margin: { l: 60, r: 10, t: 30, b: 40 },
      height: 280,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      // Above the plot: below it, the legend would meet the tick labels.
      legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom" },
      separators: decimal + group,
      yaxis: { tickformat: ",d", automargin: true, gridcolor: GRID, nticks: narrow ? 5 : 8 },
      xaxis: { type: "category", automargin: true },
      ...(layout || {}),
    },
    {
      // On a phone Plotly's toolbar would stay over the legend, and zooming bars is no use.
      displayModeBar: narrow ? false : "hover",
      displaylogo: false,
      responsive: true,
      locale: plotlyLocale(),
      modeBarButtonsToRemove: ["select2d", "lasso2d"],
      ...(config || {}),
    },
  );
}

/** Gives the chart id its figures as data ({code: value} in data-values) and as words
 * (its aria-label), for tests and screen readers. */
export function describe(id, values, label) {
  const node = $(id);
  node.dataset.values = JSON.stringify(values);
  node.setAttribute("aria-label", label);
}

/** A bar series: name (the legend's), categories x, values y. */
export function bar(name, x, y, color) {
  return {
    type: "bar",
    name: label(name),
    x: x.map(label),
    y,
    customdata: y.map(fmtNumber),
    marker: { color },
    hovertemplate: `%{x}: %{customdata}<extra>${label(name)}</extra>`,
  };
}

/** Horizontal bars, one row per label (first at the top): long labels stay readable.
 * series are [name, values, color (one, or one per bar)]. */
export function hbar(id, labels, series) {
  const rows = labels.length * Math.max(1, series.length);
  const narrow = $(id).clientWidth < 480;
  chart(
    id,
    series.map(([name, values, color]) => ({
      type: "bar",
      orientation: "h",
      name: label(name),
      y: labels.map(label),
      x: values,
      customdata: values.map(fmtNumber),
      marker: { color },
      hovertemplate: `%{y}: %{customdata}<extra>${label(name)}</extra>`,
    })),
    {
      barmode: "group",
      height: Math.max(200, 100 + rows * 24),
      margin: { l: 10, r: 16, t: series.length > 1 ? 30 : 10, b: 40 },
      showlegend: series.length > 1,
      xaxis: {
        tickformat: ",d",
        automargin: true,
        gridcolor: GRID,
        tickangle: 0,
        nticks: narrow ? 4 : 8,
        title: { text: label(t("chart.peopleReached")), standoff: 8 },
      },
      yaxis: { type: "category", autorange: "reversed", automargin: true },
    },
  );
}

/** Unique estimate and by-sector sum side by side for each year of perYear (a Map of
 * year to totals); returns the years, in order. */
export function yearsChart(id, perYear) {
  const ys = [...perYear.keys()].sort();
  chart(
    id,
    [
      bar(t("reached.unique"), ys.map(String), ys.map((y) => perYear.get(y).people_reached_unique), COLORS.unique),
      bar(t("reached.sum"), ys.map(String), ys.map((y) => perYear.get(y).people_reached), COLORS.sum),
    ],
    { barmode: "group", yaxis: yearsAxis() },
  );
  return ys;
}

/** The value axis of a chart by year. */
export function yearsAxis() {
  return {
    tickformat: ",d",
    automargin: true,
    gridcolor: GRID,
    title: { text: label(t("chart.peopleReached")), standoff: 8 },
  };
}

/** A world map of values by country (ISO 3166-1 alpha-3 codes), shaded from light to dark
 * blue; names(code) labels the tooltips. The boundaries are Natural Earth's, served by the
 * service at /dashboard/vendor/world_110m.json (plotly.js asks its topojsonURL for that
 * name); where they are not installed, the map says so and the tables still hold the
 * figures. */
export function worldMap(id, codes, values, names) {
  const node = $(id);
  return chart(
    id,
    [
      {
        type: "choropleth",
        locationmode: "ISO-3",
        locations: codes,
        z: values,
        text: codes.map((c) => label(names(c))),
        customdata: values.map(fmtNumber),
        hovertemplate: "%{text}: %{customdata}<extra></extra>",
        colorscale: [
          [0, "#8db0e6"],
          [1, COLORS.unique],
        ],
        zmin: 0,
        marker: { line: { color: "#ffffff", width: 0.5 } },
        colorbar: { thickness: 10, len: 0.8, tickformat: ",d", outlinewidth: 0 },
      },
    ],
    {
      height: Math.round(Math.min(420, Math.max(200, node.clientWidth * 0.5))),
      margin: { l: 0, r: 0, t: 0, b: 0 },
      geo: {
        scope: "world",
        resolution: 110,
        // The inhabited world, whatever the countries with figures: Antarctica and the
        // far north are left out, so that the rest fills the card.
        projection: { type: "natural earth", scale: 1.25 },
        center: { lon: 10, lat: 18 },
        fitbounds: false,
        showframe: false,
        showcoastlines: false,
        showocean: false,
        showlakes: false,
        showrivers: false,
        showland: true,
        landcolor: "#e9edf3",
        showcountries: true,
        countrycolor: "#ffffff",
        bgcolor: "rgba(0,0,0,0)",
      },
    },
    { topojsonURL: "/dashboard/vendor/" },
  ).catch(() => {
    window.Plotly.purge(node);
    node.replaceChildren(el("p", { class: "muted empty" }, t("chart.mapUnavailable")));
    node.dataset.unavailable = "true";
  });
}
