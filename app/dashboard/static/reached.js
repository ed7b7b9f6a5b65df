// People reached, counted two ways: the unique estimate (people helped by at least one
// sector, the largest sector in each place) and the by-sector sum. The cards that show
// them, the "?" that explains the difference, sums over countries, and what an analyst
// reads next to them: the targets, the people in need and the coverage, the change from
// the year before, and the split by sex and age.

import { el, figure } from "./dom.js";
import { fmtNumber, fmtPercent, t } from "./i18n.js";

// The figures of a totals row that add up across rows (a place belongs to one country, so
// the unique estimates do too). People in need and coverage do not: they are the API's own
// per row.
const ADDITIVE = [
  "people_reached",
  "people_reached_unique",
  "people_reached_in_periods",
  "people_targeted",
  "people_targeted_unique",
  "women",
  "men",
  "girls",
  "boys",
  "people_reached_not_disaggregated",
  "lines",
];
// The split by sex and age, in the API's order; the five add up to people_reached.
export const SEX_AGE = ["women", "men", "girls", "boys", "people_reached_not_disaggregated"];

/** The figures of a view with no live line: 0 everywhere. */
export function noFigures() {
  return Object.fromEntries(ADDITIVE.map((f) => [f, 0]));
}

/** Totals rows added up per key (rows of several countries, or of a year's sectors). */
export function sumBy(rows, key) {
  const sums = new Map();
  for (const row of rows) {
    const k = key(row);
    const s = sums.get(k) || noFigures();
    for (const f of ADDITIVE) s[f] += row[f];
    sums.set(k, s);
  }
  return sums;
}

const unknown = (value) => value === null || value === undefined;
/** The cell of a figure the API does not know: "unknown", never 0. */
const unknownCell = (field) => el("td", { class: "num muted", dataset: { field, value: "" } }, t("figures.unknown"));

/** A cell of a figure the API may not know (null): "unknown", never 0. */
export function knownCell(value, field) {
  return unknown(value) ? unknownCell(field) : figure("td", value, { class: "num", dataset: { field } });
}

/** A coverage cell: the API's ratio as a percentage, or "unknown". */
export function coverageCell(ratio) {
  return unknown(ratio)
    ? unknownCell("coverage")
    : el("td", { class: "num", dataset: { field: "coverage", value: ratio } }, fmtPercent(ratio, 2));
}

/** The change of the unique estimate from the year before: null when that year has no
 * figures (nothing to compare with). */
export function change(now, before) {
  if (!before || !before.people_reached_unique) return null;
  const delta = (now ? now.people_reached_unique : 0) - before.people_reached_unique;
  return { delta, ratio: delta / before.people_reached_unique };
}

/** "+1,234 (+5.2 %)", or "no figures for 2023". */
export function changeText(c, previousYear) {
  return c ? `${fmtNumber(c.delta, true)} (${fmtPercent(c.ratio, 1, true)})` : t("figures.noYear", { year: previousYear });
}

/** A table cell of the change from the year before, the delta in data-value. */
export function changeCell(c, previousYear) {
  return el(
    "td",
    { class: c ? "num" : "num muted", dataset: { field: "change", value: c ? c.delta : "" } },
    changeText(c, previousYear),
  );
}

/** A card of the change from the year before. */
export function changeKpi(year, c) {
  return card(
    t("figures.kpiChange", { year: year - 1 }),
    el("strong", { class: c ? "value" : "value muted", id: "kpi-change", dataset: { value: c ? c.delta : "" } }, changeText(c, year - 1)),
  );
}

/** The table of a view's people reached by sex and age, each with its share. */
export function sexAgeTable(id, row) {
  const total = row ? row.people_reached : 0;
  return el(
    "table",
    { id },
    el("thead", {}, el("tr", {}, el("th", {}, t("sexAge.group")), el("th", { class: "num" }, t("reached.people")), el("th", { class: "num" }, t("sexAge.share")))),
    el(
      "tbody",
      {},
      SEX_AGE.map((f) =>
        el(
          "tr",
          { dataset: { field: f } },
          el("td", {}, t(`sexAge.${f}`)),
          figure("td", row ? row[f] : 0, { class: "num", dataset: { field: f } }),
          el("td", { class: "num muted" }, total ? fmtPercent((row ? row[f] : 0) / total, 1) : "—"),
        ),
      ),
    ),
  );
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

/** A card: a label (text or nodes, with attributes for the label) over its value (a node). */
function card(label, value, labelAttrs) {
  return el("div", { class: "kpi" }, el("span", { class: "label", ...(labelAttrs || {}) }, label), value);
}

/** A card of a figure: a label (text or nodes, with attributes for the label) and a number. */
export function kpi(label, value, id, labelAttrs) {
  return card(label, figure("strong", value, { class: "value", id }), labelAttrs);
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

/** The head of a table of reachedCells rows: `first` names the rows' key column, `more`
 * the figure columns after the two reached ones. */
export function reachedHeader(first, more = []) {
  return el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", {}, first),
      el("th", { class: "num" }, t("reached.unique")),
      el("th", { class: "num" }, t("reached.sum")),
      more.map((label) => el("th", { class: "num" }, label)),
    ),
  );
}

/** A card of a figure the API may not know: "unknown" where it is null; a ratio shown as a
 * percentage when percent is set. */
export function knownKpi(label, value, id, percent = false) {
  if (unknown(value)) return card(label, el("strong", { class: "value muted", id, dataset: { value: "" } }, t("figures.unknown")));
  if (!percent) return kpi(label, value, id);
  return card(label, el("strong", { class: "value", id, dataset: { value } }, fmtPercent(value, 2)));
}
