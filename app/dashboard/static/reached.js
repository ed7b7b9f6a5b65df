// People reached, counted two ways: the unique estimate (people helped by at least one
// sector, the largest sector in each place) and the by-sector sum. The cards that show
// them, the "?" that explains the difference, and sums over countries.

import { el, figure } from "./dom.js";
import { t } from "./i18n.js";

/** Totals rows of several countries added up per key. Every figure adds up across
 * countries: a place belongs to one country, so the unique estimates do too. */
export function sumBy(rows, key) {
  const sums = new Map();
  for (const row of rows) {
    const k = key(row);
    const s = sums.get(k) || { people_reached: 0, people_reached_unique: 0, people_reached_in_periods: 0, people_targeted: 0, lines: 0 };
    for (const f of Object.keys(s)) s[f] += row[f];
    sums.set(k, s);
  }
  return sums;
}

let tips = 0;
/** A "?" button that shows the difference between the two ways of counting people. */
export function explainUnique() {
  const id = `tip-${++tips}`;
  return el(
    "span",
    { class: "info" },
    el("button", {
      type: "button",
      class: "info-button",
      "aria-label": t("reached.explainButton"),
      "aria-describedby": id,
    }, "?"),
    el("span", { class: "tip", role: "tooltip", id }, t("reached.explain")),
  );
}

/** A card: a label (text or nodes, with attributes for the label) and a figure. */
export function kpi(label, value, id, labelAttrs) {
  return el(
    "div",
    { class: "kpi" },
    el("span", { class: "label", ...(labelAttrs || {}) }, label),
    figure("strong", value, { class: "value", id }),
  );
}

/** The two cards every page opens with: the year's unique estimate and by-sector sum. */
export function reachedKpis(year, now) {
  return [
    kpi([t("reached.kpiUnique", { year }), explainUnique()], now.people_reached_unique, "kpi-unique"),
    kpi(t("reached.kpiSum", { year }), now.people_reached, "kpi-sum", { title: t("reached.explain") }),
  ];
}

/** A table row's two reached cells (unique estimate, by-sector sum), with data-field. */
export function reachedCells(row) {
  return [
    figure("td", row.people_reached_unique, { class: "num", dataset: { field: "people_reached_unique" } }),
    figure("td", row.people_reached, { class: "num", dataset: { field: "people_reached" } }),
  ];
}

/** The head of a table of reachedCells rows: `first` names the rows' key column. */
export function reachedHeader(first) {
  return el(
    "thead",
    {},
    el("tr", {}, el("th", {}, first), el("th", { class: "num" }, t("reached.unique")), el("th", { class: "num" }, t("reached.sum"))),
  );
}
