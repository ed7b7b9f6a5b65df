// Reporting completeness: a grid of country offices by month, and the offices that are late.
"use strict";

CT.start(async (f, user) => {
  const el = CT.el;
  const [crises, data] = await Promise.all([
    CT.crises(user),
    CT.api("/reporting/completeness", { year: f.year, crisis_id: f.crisis_id }),
  ]);
  const year = data.year;
  CT.filterBar([
    { name: "year", label: "Year", options: CT.yearOptions(data.years), value: String(year) },
    { name: "crisis_id", label: "Crisis", any: "All crises", options: CT.crisisOptions(crises) },
  ]);

  const names = Object.fromEntries(data.offices.map((o) => [o.country, o.name]));
  const missingMonths = (o) => o.months.filter((m) => m.state === "missing").map((m) => CT.MONTHS[m.month - 1]);
  const late = data.offices.filter((o) => o.missing > 0).sort((a, b) => b.missing - a.missing || a.name.localeCompare(b.name));

  CT.fill(
    "late-title",
    late.length
      ? `${late.length} of ${data.offices.length} offices are late for ${year}`
      : `No office is late for ${year}`,
  );
  CT.fill(
    "late",
    late.length
      ? late.map((o) =>
          el(
            "li",
            { dataset: { country: o.country, missing: o.missing } },
            CT.countryLink(o.country, names, { year: String(year) }),
            " ",
            el("span", { class: "badge late" }, `${o.missing} ${o.missing === 1 ? "month" : "months"} missing`),
            el("br"),
            el(
              "span",
              { class: "muted" },
              `No sitrep for ${missingMonths(o).join(", ")} ${year}. ` +
                (o.last_period_end
                  ? `Latest sitrep covers up to ${CT.fmtDate(o.last_period_end)}.`
                  : "It has never sent a sitrep."),
            ),
          ),
        )
      : el("li", { class: "muted" }, `Every office has a sitrep for every month of ${year} that is over (as of ${CT.fmtDate(data.as_of)}).`),
  );

  CT.fill("grid-title", `Sitreps per office and month, ${year}`, el("span", { class: "muted" }, ` · as of ${CT.fmtDate(data.as_of)}`));
  const symbol = { missing: "✕", not_due: "·", not_expected: "–" };
  const words = {
    reported: (m) => `${m.sitreps} ${m.sitreps === 1 ? "sitrep" : "sitreps"}`,
    missing: () => "no sitrep: late",
    not_due: () => "not due yet",
    not_expected: () => "before the office started reporting",
  };
  const offices = [...data.offices].sort((a, b) => a.name.localeCompare(b.name));
  CT.fill(
    "grid",
    el(
      "thead",
      {},
      el("tr", {}, el("th", { scope: "col" }, "Office"), CT.MONTHS.map((m) => el("th", { scope: "col" }, m)), el("th", { scope: "col" }, "Missing")),
    ),
    el(
      "tbody",
      {},
      offices.length
        ? offices.map((o) =>
            el(
              "tr",
              { dataset: { country: o.country } },
              el("td", {}, CT.countryLink(o.country, names, { year: String(year) })),
              o.months.map((m) =>
                el(
                  "td",
                  {
                    class: `cell ${m.state}`,
                    title: `${o.name}, ${CT.MONTHS[m.month - 1]} ${year}: ${words[m.state](m)}`,
                    dataset: { month: m.month, state: m.state, count: m.sitreps },
                  },
                  el("span", {}, m.state === "reported" ? String(m.sitreps) : symbol[m.state]),
                ),
              ),
              el("td", {}, o.missing ? el("span", { class: "badge late" }, String(o.missing)) : el("span", { class: "badge ok" }, "0")),
            ),
          )
        : el("tr", {}, el("td", { colspan: 14, class: "muted" }, "No country office yet: no sitrep or crisis is registered.")),
    ),
  );
});
