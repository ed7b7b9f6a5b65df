// A country: people reached per year and per sector, per admin1 for one year, its crises
// and its latest sitreps, each with its revisions (loaded when opened).
"use strict";

CT.start(async (f, user) => {
  const el = CT.el;
  const base = { crisis_id: f.crisis_id, sector: f.sector, division: f.division, phase: f.phase };
  const [ref, crises, all] = await Promise.all([
    CT.reference(),
    CT.crises(user),
    CT.api("/totals", base),
  ]);
  // The countries to choose from: those with figures, and a field officer's own.
  const codes = [...new Set([...all.rows.map((r) => r.country), ...(user.countries || [])])].sort(
    (a, b) => (ref.countries[a] || a).localeCompare(ref.countries[b] || b),
  );
  const country = f.country ? f.country.toUpperCase() : null;
  const rows = all.rows.filter((r) => r.country === country);
  const years = [...new Set(all.rows.map((r) => r.year))].sort();
  const ownYears = rows.map((r) => r.year);
  const year = f.year ? Number(f.year) : ownYears.length ? ownYears[ownYears.length - 1] : years[years.length - 1];
  if (year && !years.includes(year)) years.push(year);
  years.sort();

  CT.filterBar([
    { name: "country", label: "Country", any: "Choose a country", options: codes.map((c) => [c, ref.countries[c] || c]) },
    { name: "year", label: "Year", options: CT.yearOptions(years), value: year ? String(year) : "" },
    { name: "crisis_id", label: "Crisis", any: "All crises", options: CT.crisisOptions(crises) },
    { name: "sector", label: "Sector", any: "All sectors", options: CT.codeOptions(ref.sectors) },
    { name: "division", label: "Division", any: "All divisions", options: CT.codeOptions(ref.divisions) },
    { name: "phase", label: "MCOF phase", any: "All phases", options: CT.codeOptions(ref.phases) },
  ]);

  const body = document.getElementById("country-body");
  const list = document.getElementById("country-list");
  if (!country) {
    CT.fill("country-title", "Countries");
    CT.fill("country-lead", "Choose a country for its figures per year, sector and admin1, its crises and sitreps.");
    body.classList.add("hidden");
    list.classList.remove("hidden");
    CT.fill("countries", codes.map((c) => el("li", {}, CT.countryLink(c, ref.countries))));
    return;
  }
  list.classList.add("hidden");
  CT.fill("country-title", `${ref.countries[country] || country} (${country})`);
  CT.fill("country-lead", "People reached per year and sector, where, under which crises, and the sitreps behind the figures.");
  document.title = `${ref.countries[country] || country} · crisis-tracker`;
  if (user.role === "field" && !user.countries.includes(country)) {
    body.classList.add("hidden");
    throw new Error(`${country} is not one of your countries (${user.countries.join(", ")}); choose one of yours above.`);
  }
  body.classList.remove("hidden");

  const yearRange = year ? { period_from: `${year}-01-01`, period_to: `${year}-12-31` } : {};
  const [bySector, byAdmin1, areas, countryCrises, sitreps] = await Promise.all([
    CT.api("/totals", { ...base, country, group_by: "sector" }),
    CT.api("/totals", { ...base, country, year, group_by: "admin1" }),
    CT.api(`/countries/${country}/admin-areas`),
    CT.api("/crises", { country, limit: 100 }),
    CT.api("/sitreps", { country, crisis_id: f.crisis_id, limit: 10, ...yearRange }),
  ]);
  const areaNames = Object.fromEntries(areas.map((a) => [a.code, a.name]));
  const perYear = new Map(rows.map((r) => [r.year, r]));
  const now = perYear.get(year) || { people_reached: 0, people_reached_unique: 0, people_reached_in_periods: 0 };

  CT.fill(
    "kpis",
    ...CT.reachedKpis(year, now),
    el(
      "div",
      { class: "kpi" },
      el("span", { class: "label", title: "Counts repeat assistance: the same family helped in two months counts twice. Not a number of people." }, `Assistance given in ${year} (all periods)`),
      CT.figure("strong", now.people_reached_in_periods, { class: "value", id: "kpi-periods" }),
    ),
  );

  // per year
  CT.yearsChart("chart-years", perYear);

  // by sector and year: a table with a column per year, and a chart
  const sectorYears = [...new Set(bySector.rows.map((r) => r.year))].sort();
  const sectors = Object.keys(ref.sectors).filter((s) => bySector.rows.some((r) => r.sector === s));
  const cell = new Map(bySector.rows.map((r) => [`${r.sector}|${r.year}`, r.people_reached]));
  CT.chart(
    "chart-sectors",
    sectors.map((s) =>
      CT.bar(CT.SHORT[s], sectorYears.map(String), sectorYears.map((y) => cell.get(`${s}|${y}`) || 0), CT.SECTOR_COLORS[s]),
    ),
    { barmode: "group" },
  );
  CT.fill(
    "table-sectors",
    el(
      "thead",
      {},
      el("tr", {}, el("th", {}, "Sector"), sectorYears.map((y) => el("th", { class: y === year ? "num chosen" : "num" }, String(y)))),
    ),
    el(
      "tbody",
      {},
      sectors.map((s) =>
        el(
          "tr",
          { dataset: { sector: s } },
          el("td", {}, ref.sectors[s]),
          sectorYears.map((y) => CT.figure("td", cell.get(`${s}|${y}`) || 0, { class: y === year ? "num chosen" : "num", dataset: { year: y } })),
        ),
      ),
      el(
        "tr",
        { class: "total", dataset: { sector: "sum" } },
        el("td", { title: CT.EXPLAIN_UNIQUE }, "By-sector sum"),
        sectorYears.map((y) => CT.figure("td", (perYear.get(y) || {}).people_reached || 0, { class: "num", dataset: { year: y } })),
      ),
      el(
        "tr",
        { class: "total", dataset: { sector: "unique" } },
        el("td", {}, "Unique (estimate) ", CT.explainUnique()),
        sectorYears.map((y) => CT.figure("td", (perYear.get(y) || {}).people_reached_unique || 0, { class: "num", dataset: { year: y } })),
      ),
    ),
  );

  // by admin1, for the year
  CT.fill("admin1-title", `By admin1, ${year}`);
  const admin = [...byAdmin1.rows].sort((a, b) => b.people_reached_unique - a.people_reached_unique);
  const adminName = (code) => (code ? `${areaNames[code] || code}` : "Country-wide");
  CT.hbar("chart-admin1", admin.map((r) => adminName(r.admin1)), [
    ["Unique (estimate)", admin.map((r) => r.people_reached_unique), CT.COLORS.unique],
    ["By-sector sum", admin.map((r) => r.people_reached), CT.COLORS.sum],
  ]);
  CT.fill(
    "table-admin1",
    el(
      "thead",
      {},
      el("tr", {}, el("th", {}, "Admin1"), el("th", { class: "wide-only" }, "P-code"), el("th", { class: "num" }, "Unique (estimate)"), el("th", { class: "num" }, "By-sector sum")),
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
          CT.figure("td", r.people_reached_unique, { class: "num", dataset: { field: "people_reached_unique" } }),
          CT.figure("td", r.people_reached, { class: "num", dataset: { field: "people_reached" } }),
        ),
      ),
    ),
  );

  // crises
  CT.fill(
    "crises",
    countryCrises.items.length
      ? countryCrises.items.map((c) =>
          el(
            "li",
            { dataset: { crisis: c.id } },
            el("strong", {}, c.name),
            " ",
            el("span", { class: "badge" }, c.kind),
            c.scale_up ? [" ", el("span", { class: "badge late" }, "scale-up")] : null,
            el("br"),
            el("span", { class: "muted" }, `since ${CT.fmtDate(c.started_on)}${c.glide ? ` · GLIDE ${c.glide}` : ""}`),
          ),
        )
      : el("li", { class: "muted" }, "No crisis registered here: preparedness work only."),
  );

  // latest sitreps of the year, with their revisions on demand
  const crisisNames = Object.fromEntries(crises.map((c) => [c.id, c.name]));
  CT.fill("sitreps-title", `Latest sitreps, ${year}`);
  CT.fill(
    "sitreps",
    sitreps.items.length
      ? sitreps.items.map((s) => sitrepItem(s, crisisNames))
      : el("p", { class: "muted" }, "No sitreps for this year."),
  );
});

function sitrepItem(s, crisisNames) {
  const el = CT.el;
  const reached = s.lines.reduce((n, l) => n + l.people_reached, 0);
  const revisions = el("div", { class: "revisions" });
  const details = el(
    "details",
    { class: "sitrep", dataset: { sitrep: s.id } },
    el(
      "summary",
      {},
      el("strong", {}, `${CT.fmtDate(s.period_start)} – ${CT.fmtDate(s.period_end)}`),
      " ",
      s.status === "withdrawn" ? el("span", { class: "badge late" }, "withdrawn") : null,
      el("span", { class: "badge" }, `revision ${s.revision}`),
      el("br"),
      el(
        "span",
        { class: "muted" },
        `#${s.id} · ${s.crisis_id ? crisisNames[s.crisis_id] || `crisis ${s.crisis_id}` : "no crisis"} · ${s.lines.length} lines · ${CT.fmt(reached)} reached in the period · by ${s.submitted_by}`,
      ),
    ),
    revisions,
  );
  details.addEventListener("toggle", async () => {
    if (!details.open || revisions.dataset.loaded) return;
    revisions.replaceChildren(el("p", { class: "muted" }, "Loading revisions…"));
    try {
      const page = await CT.api(`/sitreps/${s.id}/revisions`);
      revisions.dataset.loaded = "true";
      CT.fill(
        revisions,
        page.items.map((r) =>
          el(
            "div",
            { class: "revision", dataset: { revision: r.revision } },
            el("strong", {}, `Revision ${r.revision}`),
            el(
              "span",
              { class: "muted" },
              ` · ${CT.fmtDate(r.submitted_at)} by ${r.submitted_by} · ${r.lines.length} lines · ${CT.fmt(r.lines.reduce((n, l) => n + l.people_reached, 0))} reached`,
            ),
            r.narrative ? el("div", {}, r.narrative) : null,
          ),
        ),
        s.withdrawal_reason ? el("p", {}, el("strong", {}, "Withdrawn: "), s.withdrawal_reason) : null,
      );
    } catch (error) {
      revisions.replaceChildren(el("p", { class: "notice error" }, error.message));
    }
  });
  return details;
}
