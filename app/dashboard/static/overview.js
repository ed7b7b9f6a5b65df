// Overview: people reached per year (unique estimate and by-sector sum), the countries,
// and the split by sector, division and MCOF phase of one year.

import { get } from "./api.js";
import { COLORS, SECTOR_COLORS, describe, hbar, worldMap, yearsChart } from "./charts.js";
import { el, figure, fill } from "./dom.js";
import { downloadButtons } from "./downloads.js";
import { filterBar, scopeFields, yearOptions } from "./filter-bar.js";
import { fmtNumber, t } from "./i18n.js";
import { startPage } from "./page.js";
import {
  change,
  changeCell,
  changeKpi,
  coverageCell,
  explainUnique,
  knownCell,
  kpi,
  noFigures,
  reachedCells,
  reachedHeader,
  reachedKpis,
  sexAgeTable,
  sumBy,
} from "./reached.js";
import { crises as crisesOf, nameOf, reference, shortNameOf } from "./reference.js";
import { countryLink } from "./url-state.js";

startPage("overview", async (f, user) => {
  const base = { crisis_id: f.crisis_id, sector: f.sector, division: f.division, phase: f.phase };
  const [ref, crises, all] = await Promise.all([reference(), crisesOf(user), get("/totals", base)]);
  const years = [...new Set(all.rows.map((r) => r.year))].sort();
  const year = f.year ? Number(f.year) : years[years.length - 1];
  if (f.year && !years.includes(year)) years.push(year);
  years.sort();

  filterBar([
    { name: "year", label: t("filters.year"), options: yearOptions(years), value: year ? String(year) : "" },
    ...scopeFields(ref, crises),
  ]);

  if (!years.length) {
    ["downloads", "kpis", "table-years", "table-countries", "chart-years", "chart-map", "chart-countries", "chart-sector", "chart-division", "chart-phase", "sexage"].forEach((id) => fill(id));
    throw new Error(t("overview.empty"));
  }

  const yearParams = { ...base, year };
  // The countries of the year as the table shows them.
  downloadButtons("downloads", yearParams, user);
  const [bySector, byDivision, byPhase] = await Promise.all(
    ["sector", "division", "phase"].map((g) => get("/totals", { ...yearParams, group_by: g })),
  );

  // KPIs of the year
  const perYear = sumBy(all.rows, (r) => r.year);
  const now = perYear.get(year) || noFigures();
  const countries = all.rows.filter((r) => r.year === year);
  fill(
    "kpis",
    ...reachedKpis(year, now),
    kpi(t("figures.kpiTargeted", { year }), now.people_targeted_unique, "kpi-targeted", { title: t("figures.targetedExplain") }),
    changeKpi(year, change(now, perYear.get(year - 1))),
    kpi(t("overview.kpiCountries", { year }), countries.length, "kpi-countries"),
  );

  // by sex and age, for the view
  fill("sexage-title", t("sexAge.title", { year }));
  fill("sexage", sexAgeTable("table-sexage", now));

  // per year
  fill("per-year-title", t("overview.perYear"), " ", explainUnique());
  const ys = yearsChart("chart-years", perYear);
  fill(
    "table-years",
    reachedHeader(t("overview.year")),
    el("tbody", {}, ys.map((y) => el("tr", { dataset: { year: y } }, el("td", {}, String(y)), reachedCells(perYear.get(y))))),
  );

  // countries of the year, largest first, each a link to its page
  countries.sort((a, b) => b.people_reached_unique - a.people_reached_unique);
  const countryName = (code) => nameOf(ref, "countries", code);
  fill("countries-title", t("overview.countriesOfYear", { year }));
  // the year's reach (unique) on a world map, as the countries table gives it
  fill("map-title", t("overview.mapOfYear", { year }));
  describe(
    "chart-map",
    Object.fromEntries(countries.map((r) => [r.country, r.people_reached_unique])),
    t("overview.mapLabel", {
      year,
      list: countries.map((r) => `${countryName(r.country)} ${fmtNumber(r.people_reached_unique)}`).join(", "),
    }),
  );
  const mapDrawn = worldMap(
    "chart-map",
    countries.map((r) => r.country),
    countries.map((r) => r.people_reached_unique),
    countryName,
  );
  hbar("chart-countries", countries.map((r) => countryName(r.country)), [
    [t("reached.unique"), countries.map((r) => r.people_reached_unique), COLORS.unique],
    [t("reached.sum"), countries.map((r) => r.people_reached), COLORS.sum],
  ]);
  // each with its target, people in need, coverage and change from the year before
  const before = new Map(all.rows.filter((r) => r.year === year - 1).map((r) => [r.country, r]));
  fill(
    "table-countries",
    reachedHeader(t("overview.country"), [
      t("figures.targeted"),
      t("figures.inNeed"),
      t("figures.coverage"),
      t("figures.change", { year: year - 1 }),
    ]),
    el(
      "tbody",
      {},
      countries.map((r) =>
        el(
          "tr",
          { dataset: { country: r.country } },
          el("td", {}, countryLink(r.country, countryName(r.country), { year: String(year) })),
          reachedCells(r),
          figure("td", r.people_targeted_unique, { class: "num", dataset: { field: "people_targeted_unique" } }),
          knownCell(r.people_in_need, "people_in_need"),
          coverageCell(r.coverage),
          changeCell(change(r, before.get(r.country)), year - 1),
        ),
      ),
    ),
  );

  // splits of the year, in the order of the API's code lists
  const split = (rows, key, list) => {
    const sums = sumBy(rows, (r) => r[key]);
    const codes = Object.keys(ref[list]).filter((c) => sums.has(c));
    const value = (c, field) => sums.get(c)[field];
    const id = `chart-${key}`;
    fill(`${key}-title`, t(`overview.by.${key}`, { year }));
    hbar(
      id,
      codes.map((c) => shortNameOf(ref, list, c)),
      key === "sector"
        ? [[t("reached.people"), codes.map((c) => value(c, "people_reached")), codes.map((c) => SECTOR_COLORS[c])]]
        : [
            [t("reached.unique"), codes.map((c) => value(c, "people_reached_unique")), COLORS.unique],
            [t("reached.sum"), codes.map((c) => value(c, "people_reached")), COLORS.sum],
          ],
    );
    describe(
      id,
      Object.fromEntries(codes.map((c) => [c, value(c, "people_reached")])),
      t(`overview.byLabel.${key}`, {
        list: codes.map((c) => `${nameOf(ref, list, c)} ${fmtNumber(value(c, "people_reached"))}`).join(", "),
      }),
    );
  };
  split(bySector.rows, "sector", "sectors");
  split(byDivision.rows, "division", "divisions");
  split(byPhase.rows, "phase", "phases");
  await mapDrawn;
});
