// A country: people reached per year and per sector, per admin1 for one year, its crises
// and its latest sitreps, each with its revisions (loaded when opened).

import { get } from "./api.js";
import { COLORS, SECTOR_COLORS, bar, chart, hbar, yearsAxis, yearsChart } from "./charts.js";
import { $, el, figure, fill } from "./dom.js";
import { downloadButtons } from "./downloads.js";
import { filterBar, scopeFields, yearOptions } from "./filter-bar.js";
import { fmtDate, fmtList, fmtNumber, fmtPercent, t, tCount } from "./i18n.js";
import { errorMessage, startPage } from "./page.js";
import {
  change,
  changeKpi,
  coverageCell,
  explainUnique,
  knownCell,
  knownKpi,
  kpi,
  noFigures,
  reachedCells,
  reachedHeader,
  reachedKpis,
  sexAgeTable,
} from "./reached.js";
import { crises as crisesOf, nameOf, reference, shortNameOf } from "./reference.js";
import { countryLink } from "./url-state.js";

startPage("country", async (f, user) => {
  const base = { crisis_id: f.crisis_id, sector: f.sector, division: f.division, phase: f.phase };
  const [ref, crises, all] = await Promise.all([reference(), crisesOf(user), get("/totals", base)]);
  const countryName = (code) => nameOf(ref, "countries", code);
  // The countries to choose from: those with figures, and a field officer's own.
  const codes = [...new Set([...all.rows.map((r) => r.country), ...(user.countries || [])])].sort(
    (a, b) => countryName(a).localeCompare(countryName(b)),
  );
  const country = f.country ? f.country.toUpperCase() : null;
  const rows = all.rows.filter((r) => r.country === country);
  const years = [...new Set(all.rows.map((r) => r.year))].sort();
  const ownYears = rows.map((r) => r.year);
  const year = f.year ? Number(f.year) : ownYears.length ? ownYears[ownYears.length - 1] : years[years.length - 1];
  if (year && !years.includes(year)) years.push(year);
  years.sort();

  filterBar([
    { name: "country", label: t("filters.country"), any: t("filters.chooseCountry"), options: codes.map((c) => [c, countryName(c)]) },
    { name: "year", label: t("filters.year"), options: yearOptions(years), value: year ? String(year) : "" },
    ...scopeFields(ref, crises),
  ]);

  const body = $("country-body");
  const list = $("country-list");
  fill("downloads");
  if (!country) {
    fill("country-title", t("country.heading"));
    fill("country-lead", t("country.choose"));
    document.title = t("country.pageTitle");
    body.classList.add("hidden");
    list.classList.remove("hidden");
    // Each country with its figures of the year chosen (0 where it has no live line).
    const ofYear = new Map(all.rows.filter((r) => r.year === year).map((r) => [r.country, r]));
    const figures = (c) => ofYear.get(c) || { people_reached_unique: 0, people_reached: 0 };
    fill("countries-title", year ? t("country.listOf", { year }) : t("country.heading"));
    fill(
      "countries",
      reachedHeader(t("country.country")),
      el(
        "tbody",
        {},
        codes.map((c) =>
          el(
            "tr",
            { dataset: { country: c } },
            el("td", {}, countryLink(c, countryName(c), year ? { year: String(year) } : {})),
            reachedCells(figures(c)),
          ),
        ),
      ),
    );
    return;
  }
  list.classList.add("hidden");
  fill("country-title", t("country.title", { name: countryName(country), code: country }));
  fill("country-lead", t("country.lead"));
  document.title = t("country.pageTitleOf", { name: countryName(country) });
  if (user.role === "field" && !user.countries.includes(country)) {
    body.classList.add("hidden");
    throw new Error(t("country.notYours", { country, countries: fmtList(user.countries) }));
  }
  body.classList.remove("hidden");
  // The table by sector and year, as it shows them.
  downloadButtons("downloads", { ...base, country, group_by: "sector" }, user);

  const yearRange = year ? { period_from: `${year}-01-01`, period_to: `${year}-12-31` } : {};
  const [bySector, byAdmin1, areas, countryCrises, sitreps, doubleCounting] = await Promise.all([
    get("/totals", { ...base, country, group_by: "sector" }),
    get("/totals", { ...base, country, year, group_by: "admin1" }),
    get(`/countries/${country}/admin-areas`),
    get("/crises", { country, limit: 100 }),
    get("/sitreps", { country, crisis_id: f.crisis_id, limit: 10, ...yearRange }),
    get("/reporting/double-counting", { country, year }),
  ]);
  const areaNames = Object.fromEntries(areas.map((a) => [a.code, a.name]));
  const adminName = (code) => (code ? areaNames[code] || code : t("country.countryWide"));
  const perYear = new Map(rows.map((r) => [r.year, r]));
  const now = perYear.get(year) || { ...noFigures(), people_in_need: null, coverage: null };

  fill(
    "kpis",
    ...reachedKpis(year, now),
    kpi(t("figures.kpiTargeted", { year }), now.people_targeted_unique, "kpi-targeted", { title: t("figures.targetedExplain") }),
    knownKpi(t("figures.kpiInNeed", { year }), now.people_in_need, "kpi-in-need"),
    knownKpi(t("figures.kpiCoverage", { year }), now.coverage, "kpi-coverage", true),
    changeKpi(year, change(now, perYear.get(year - 1))),
    kpi(t("country.kpiPeriods", { year }), now.people_reached_in_periods, "kpi-periods", { title: t("country.kpiPeriodsExplain") }),
  );

  // reached, targeted and in need by sector, for the year, then for people (unique)
  const ofYear = bySector.rows.filter((r) => r.year === year);
  const needsCells = (reached, targeted, row, reachedField, targetedField) => [
    figure("td", reached, { class: "num", dataset: { field: reachedField } }),
    figure("td", targeted, { class: "num", dataset: { field: targetedField } }),
    knownCell(row.people_in_need, "people_in_need"),
    coverageCell(row.coverage),
  ];
  fill("needs-title", t("figures.bySector", { year }));
  fill(
    "table-needs",
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", {}, t("country.sector")),
        [t("reached.people"), t("figures.targeted"), t("figures.inNeed"), t("figures.coverage")].map((label) => el("th", { class: "num" }, label)),
      ),
    ),
    el(
      "tbody",
      {},
      Object.keys(ref.sectors)
        .map((code) => ofYear.find((r) => r.sector === code))
        .filter(Boolean)
        .map((r) =>
          el("tr", { dataset: { sector: r.sector } }, el("td", {}, nameOf(ref, "sectors", r.sector)), needsCells(r.people_reached, r.people_targeted, r, "people_reached", "people_targeted")),
        ),
      el(
        "tr",
        { class: "total", dataset: { sector: "unique" } },
        el("td", {}, t("figures.intersectoral"), " ", explainUnique()),
        needsCells(now.people_reached_unique, now.people_targeted_unique, now, "people_reached_unique", "people_targeted_unique"),
      ),
    ),
  );

  // by sex and age, for the view
  fill("sexage-title", t("sexAge.title", { year }));
  fill("sexage", sexAgeTable("table-sexage", now));

  // where the year's figure may count the same people twice (DOMAIN.md, "Cumulative
  // figures"): the API's flagged slots, of every sector and crisis of the year
  const flagged = doubleCounting.countries.find((c) => c.country === country);
  const place = (s) => (s.admin2 ? `${areaNames[s.admin2] || s.admin2}, ${adminName(s.admin1)}` : adminName(s.admin1));
  fill("flags-title", t("flags.title", { year: doubleCounting.year }));
  fill(
    "flags-lead",
    flagged
      ? t("flags.lead", { reach: fmtNumber(flagged.flagged_reach), share: fmtPercent(flagged.share, 1) })
      : t("flags.none", { year: doubleCounting.year }),
  );
  fill(
    "table-flags",
    flagged
      ? [
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              [t("filters.sector"), t("filters.division"), t("filters.phase"), t("flags.place")].map((label) => el("th", {}, label)),
              [t("flags.periods"), t("reached.people"), t("flags.share")].map((label) => el("th", { class: "num" }, label)),
            ),
          ),
          el(
            "tbody",
            {},
            flagged.slots.map((s) =>
              el(
                "tr",
                { dataset: { sector: s.sector, admin1: s.admin1 || "", admin2: s.admin2 || "" } },
                el("td", {}, nameOf(ref, "sectors", s.sector)),
                el("td", {}, nameOf(ref, "divisions", s.division)),
                el("td", {}, nameOf(ref, "phases", s.phase)),
                el("td", {}, place(s)),
                figure("td", s.periods, { class: "num", dataset: { field: "periods" } }),
                figure("td", s.people_reached, { class: "num", dataset: { field: "people_reached" } }),
                el("td", { class: "num muted", dataset: { field: "share", value: s.share } }, fmtPercent(s.share, 1)),
              ),
            ),
          ),
        ]
      : [],
  );

  // per year
  yearsChart("chart-years", perYear);

  // by sector and year: a table with a column per year, and a chart
  const sectorYears = [...new Set(bySector.rows.map((r) => r.year))].sort();
  const sectors = Object.keys(ref.sectors).filter((s) => bySector.rows.some((r) => r.sector === s));
  const cell = new Map(bySector.rows.map((r) => [`${r.sector}|${r.year}`, r.people_reached]));
  chart(
    "chart-sectors",
    sectors.map((s) =>
      bar(shortNameOf(ref, "sectors", s), sectorYears.map(String), sectorYears.map((y) => cell.get(`${s}|${y}`) || 0), SECTOR_COLORS[s]),
    ),
    { barmode: "group", yaxis: yearsAxis() },
  );
  const yearCells = (value) =>
    sectorYears.map((y) => figure("td", value(y), { class: y === year ? "num chosen" : "num", dataset: { year: y } }));
  fill(
    "table-sectors",
    el(
      "thead",
      {},
      el("tr", {}, el("th", {}, t("country.sector")), sectorYears.map((y) => el("th", { class: y === year ? "num chosen" : "num" }, String(y)))),
    ),
    el(
      "tbody",
      {},
      sectors.map((s) =>
        el("tr", { dataset: { sector: s } }, el("td", {}, nameOf(ref, "sectors", s)), yearCells((y) => cell.get(`${s}|${y}`) || 0)),
      ),
      el(
        "tr",
        { class: "total", dataset: { sector: "sum" } },
        el("td", { title: t("reached.explain") }, t("reached.sum")),
        yearCells((y) => (perYear.get(y) || {}).people_reached || 0),
      ),
      el(
        "tr",
        { class: "total", dataset: { sector: "unique" } },
        el("td", {}, t("reached.unique"), " ", explainUnique()),
        yearCells((y) => (perYear.get(y) || {}).people_reached_unique || 0),
      ),
    ),
  );

  // by admin1, for the year
  fill("admin1-title", t("country.byAdmin1", { year }));
  const admin = [...byAdmin1.rows].sort((a, b) => b.people_reached_unique - a.people_reached_unique);
  hbar("chart-admin1", admin.map((r) => adminName(r.admin1)), [
    [t("reached.unique"), admin.map((r) => r.people_reached_unique), COLORS.unique],
    [t("reached.sum"), admin.map((r) => r.people_reached), COLORS.sum],
  ]);
  fill(
    "table-admin1",
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", {}, t("country.admin1")),
        el("th", { class: "wide-only" }, t("country.pcode")),
        el("th", { class: "num" }, t("reached.unique")),
        el("th", { class: "num" }, t("reached.sum")),
      ),
    ),
    el(
      "tbody",
      {},
      admin.map((r) =>
        el(
          "tr",
          { dataset: { admin1: r.admin1 || "" } },
          el("td", {}, adminName(r.admin1)),
          el("td", { class: "muted wide-only" }, r.admin1 || "—"),
          reachedCells(r),
        ),
      ),
    ),
  );

  // crises
  fill(
    "crises",
    countryCrises.items.length
      ? countryCrises.items.map((c) =>
          el(
            "li",
            { dataset: { crisis: c.id } },
            el("strong", {}, c.name),
            " ",
            el("span", { class: "badge" }, t(`crisis.kind.${c.kind}`)),
            c.scale_up ? [" ", el("span", { class: "badge late" }, t("crisis.scaleUp"))] : null,
            el("br"),
            el(
              "span",
              { class: "muted" },
              t("crisis.since", { date: fmtDate(c.started_on) }),
              c.glide ? ` · GLIDE ${c.glide}` : "",
            ),
          ),
        )
      : el("li", { class: "muted" }, t("crisis.none")),
  );

  // latest sitreps of the year, with their revisions on demand
  const crisisNames = Object.fromEntries(crises.map((c) => [c.id, c.name]));
  fill("sitreps-title", t("sitreps.latest", { year }));
  fill(
    "sitreps",
    sitreps.items.length
      ? sitreps.items.map((s) => sitrepItem(s, crisisNames, user))
      : el("p", { class: "muted" }, t("sitreps.none")),
  );
});

const reachedIn = (lines) => lines.reduce((n, l) => n + l.people_reached, 0);

function sitrepItem(s, crisisNames, user) {
  const revisions = el("div", { class: "revisions" });
  const crisis = s.crisis_id ? crisisNames[s.crisis_id] || t("sitreps.crisisNumber", { id: s.crisis_id }) : t("sitreps.noCrisis");
  const details = el(
    "details",
    { class: "sitrep", dataset: { sitrep: s.id } },
    el(
      "summary",
      {},
      el("strong", {}, t("sitreps.period", { start: fmtDate(s.period_start), end: fmtDate(s.period_end) })),
      " ",
      s.status === "withdrawn" ? [el("span", { class: "badge late" }, t("sitreps.withdrawnBadge")), " "] : null,
      el("span", { class: "badge" }, t("sitreps.revisionBadge", { n: fmtNumber(s.revision) })),
      el("br"),
      el(
        "span",
        { class: "muted" },
        t("sitreps.summary", {
          id: s.id,
          crisis,
          lines: tCount("sitreps.lines", s.lines.length),
          reached: fmtNumber(reachedIn(s.lines)),
          user: s.submitted_by,
        }),
      ),
    ),
    revisions,
  );
  details.addEventListener("toggle", async () => {
    if (!details.open || revisions.dataset.loaded) return;
    revisions.replaceChildren(el("p", { class: "muted" }, t("sitreps.loadingRevisions")));
    try {
      const page = await get(`/sitreps/${s.id}/revisions`);
      revisions.dataset.loaded = "true";
      fill(
        revisions,
        page.items.map((r) =>
          el(
            "div",
            { class: "revision", dataset: { revision: r.revision } },
            el("strong", {}, t("sitreps.revision", { n: fmtNumber(r.revision) })),
            el(
              "span",
              { class: "muted" },
              " · ",
              t("sitreps.revisionSummary", {
                date: fmtDate(r.submitted_at),
                user: r.submitted_by,
                lines: tCount("sitreps.lines", r.lines.length),
                reached: fmtNumber(reachedIn(r.lines)),
              }),
            ),
            r.narrative ? el("div", {}, r.narrative) : null,
          ),
        ),
        s.withdrawal_reason ? el("p", {}, el("strong", {}, t("sitreps.withdrawn")), " ", s.withdrawal_reason) : null,
      );
    } catch (error) {
      revisions.replaceChildren(el("p", { class: "notice error" }, errorMessage(error, user)));
    }
  });
  return details;
}
