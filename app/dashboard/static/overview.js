// Overview: people reached per year (unique estimate and by-sector sum), the countries,
// and the split by sector, division and MCOF phase of one year.
"use strict";

CT.start(async (f, user) => {
  const el = CT.el;
  const base = { crisis_id: f.crisis_id, sector: f.sector, division: f.division, phase: f.phase };
  const [ref, crises, all] = await Promise.all([
    CT.reference(),
    CT.crises(user),
    CT.api("/totals", base),
  ]);
  const years = [...new Set(all.rows.map((r) => r.year))].sort();
  const year = f.year ? Number(f.year) : years[years.length - 1];
  if (f.year && !years.includes(year)) years.push(year);
  years.sort();

  CT.filterBar([
    { name: "year", label: "Year", options: CT.yearOptions(years), value: year ? String(year) : "" },
    { name: "crisis_id", label: "Crisis", any: "All crises", options: CT.crisisOptions(crises) },
    { name: "sector", label: "Sector", any: "All sectors", options: CT.codeOptions(ref.sectors) },
    { name: "division", label: "Division", any: "All divisions", options: CT.codeOptions(ref.divisions) },
    { name: "phase", label: "MCOF phase", any: "All phases", options: CT.codeOptions(ref.phases) },
  ]);

  if (!years.length) {
    CT.fill("kpis");
    ["table-years", "table-countries"].forEach((id) => CT.fill(id));
    ["chart-years", "chart-sector", "chart-division", "chart-phase"].forEach((id) => CT.fill(id));
    throw new Error("No sitreps match these filters yet.");
  }

  const yearParams = { ...base, year };
  const [bySector, byDivision, byPhase] = await Promise.all(
    ["sector", "division", "phase"].map((g) => CT.api("/totals", { ...yearParams, group_by: g })),
  );

  // KPIs of the year
  const perYear = CT.sumBy(all.rows, (r) => r.year);
  const now = perYear.get(year) || { people_reached: 0, people_reached_unique: 0 };
  const countries = all.rows.filter((r) => r.year === year);
  CT.fill(
    "kpis",
    ...CT.reachedKpis(year, now),
    el(
      "div",
      { class: "kpi" },
      el("span", { class: "label" }, `Countries reporting in ${year}`),
      CT.figure("strong", countries.length, { class: "value", id: "kpi-countries" }),
    ),
  );

  // per year
  CT.fill("per-year-title", "People reached per year ", CT.explainUnique());
  const ys = CT.yearsChart("chart-years", perYear);
  CT.fill(
    "table-years",
    el("thead", {}, el("tr", {}, el("th", {}, "Year"), el("th", { class: "num" }, "Unique (estimate)"), el("th", { class: "num" }, "By-sector sum"))),
    el(
      "tbody",
      {},
      ys.map((y) =>
        el(
          "tr",
          { dataset: { year: y } },
          el("td", {}, String(y)),
          CT.figure("td", perYear.get(y).people_reached_unique, { class: "num", dataset: { field: "people_reached_unique" } }),
          CT.figure("td", perYear.get(y).people_reached, { class: "num", dataset: { field: "people_reached" } }),
        ),
      ),
    ),
  );

  // countries of the year, largest first, each a link to its page
  countries.sort((a, b) => b.people_reached_unique - a.people_reached_unique);
  CT.fill("countries-title", `Countries, ${year}`);
  CT.hbar("chart-countries", countries.map((r) => ref.countries[r.country] || r.country), [
    ["Unique (estimate)", countries.map((r) => r.people_reached_unique), CT.COLORS.unique],
    ["By-sector sum", countries.map((r) => r.people_reached), CT.COLORS.sum],
  ]);
  CT.fill(
    "table-countries",
    el(
      "thead",
      {},
      el("tr", {}, el("th", {}, "Country"), el("th", { class: "num" }, "Unique (estimate)"), el("th", { class: "num" }, "By-sector sum")),
    ),
    el(
      "tbody",
      {},
      countries.map((r) =>
        el(
          "tr",
          { dataset: { country: r.country } },
          el("td", {}, CT.countryLink(r.country, ref.countries, { year: String(year) })),
          CT.figure("td", r.people_reached_unique, { class: "num", dataset: { field: "people_reached_unique" } }),
          CT.figure("td", r.people_reached, { class: "num", dataset: { field: "people_reached" } }),
        ),
      ),
    ),
  );

  // splits of the year, in the order of the code lists
  const split = (rows, key, names, id, title, label) => {
    const sums = CT.sumBy(rows, (r) => r[key]);
    const codes = Object.keys(names).filter((c) => sums.has(c));
    CT.fill(`${key}-title`, `${title}, ${year}`);
        const value = (c, f) => sums.get(c)[f];
    CT.hbar(
      id,
      codes.map((c) => CT.SHORT[c] || names[c] || c),
      key === "sector"
        ? [["People reached", codes.map((c) => value(c, "people_reached")), codes.map((c) => CT.SECTOR_COLORS[c])]]
        : [
            ["Unique (estimate)", codes.map((c) => value(c, "people_reached_unique")), CT.COLORS.unique],
            ["By-sector sum", codes.map((c) => value(c, "people_reached")), CT.COLORS.sum],
          ],
    );
    const node = document.getElementById(id);
    node.dataset.values = JSON.stringify(Object.fromEntries(codes.map((c) => [c, value(c, "people_reached")])));
    node.setAttribute("aria-label", `${label}: ${codes.map((c) => `${names[c]} ${CT.fmt(value(c, "people_reached"))}`).join(", ")}`);
  };
  split(bySector.rows, "sector", ref.sectors, "chart-sector", "By sector", "People reached by sector");
  split(byDivision.rows, "division", ref.divisions, "chart-division", "By division", "People reached by division");
  split(byPhase.rows, "phase", ref.phases, "chart-phase", "By MCOF phase", "People reached by phase");
});
