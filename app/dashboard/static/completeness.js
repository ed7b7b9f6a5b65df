// Reporting completeness: a grid of country offices by month, and the offices that are late.

import { get } from "./api.js";
import { el, fill } from "./dom.js";
import { crisisOptions, filterBar, yearOptions } from "./filter-bar.js";
import { fmtDate, fmtList, monthName, t, tCount } from "./i18n.js";
import { startPage } from "./page.js";
import { crises as crisesOf } from "./reference.js";
import { countryLink } from "./url-state.js";

const SYMBOL = { missing: "✕", not_due: "·", not_expected: "–" };
const MONTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

startPage("completeness", async (f, user) => {
  const [crises, data] = await Promise.all([
    crisesOf(user),
    get("/reporting/completeness", { year: f.year, crisis_id: f.crisis_id }),
  ]);
  const year = data.year;
  filterBar([
    { name: "year", label: t("filters.year"), options: yearOptions(data.years), value: String(year) },
    { name: "crisis_id", label: t("filters.crisis"), any: t("filters.allCrises"), options: crisisOptions(crises) },
  ]);

  const byName = (a, b) => a.name.localeCompare(b.name);
  const missingMonths = (o) => o.months.filter((m) => m.state === "missing").map((m) => monthName(m.month, "long"));
  const late = data.offices.filter((o) => o.missing > 0).sort((a, b) => b.missing - a.missing || byName(a, b));
  const asOf = fmtDate(data.as_of);
  // A month is due once it is over: none of a year that has not started, or whose January
  // is not over yet, so no office can be late nor on time for it.
  const [asOfYear, asOfMonth] = data.as_of.split("-").map(Number);
  const nothingDue = year > asOfYear || (year === asOfYear && asOfMonth === 1);

  fill(
    "late-title",
    nothingDue
      ? t("completeness.nothingDue", { year })
      : late.length
        ? tCount("completeness.late", late.length, { total: data.offices.length, year })
        : t("completeness.noneLate", { year }),
  );
  fill(
    "late",
    late.length
      ? late.map((o) =>
          el(
            "li",
            { dataset: { country: o.country, missing: o.missing } },
            countryLink(o.country, o.name, { year: String(year) }),
            " ",
            el("span", { class: "badge late" }, tCount("completeness.monthsMissing", o.missing)),
            el("br"),
            el(
              "span",
              { class: "muted" },
              t("completeness.noSitrepFor", { months: fmtList(missingMonths(o)), year }),
              " ",
              o.last_period_end
                ? t("completeness.latestCovers", { date: fmtDate(o.last_period_end) })
                : t("completeness.neverSent"),
            ),
          ),
        )
      : el("li", { class: "muted" }, t(nothingDue ? "completeness.nothingDueYet" : "completeness.allOnTime", { year, date: asOf })),
  );

  fill("grid-title", t("completeness.grid", { year }), el("span", { class: "muted" }, " · ", t("completeness.asOf", { date: asOf })));
  const state = (m) => (m.state === "reported" ? tCount("completeness.state.reported", m.sitreps) : t(`completeness.state.${m.state}`));
  const offices = [...data.offices].sort(byName);
  fill(
    "grid",
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, t("completeness.office")),
        MONTHS.map((m) => el("th", { scope: "col", title: monthName(m, "long") }, monthName(m))),
        el("th", { scope: "col" }, t("completeness.missing")),
      ),
    ),
    el(
      "tbody",
      {},
      offices.length
        ? offices.map((o) =>
            el(
              "tr",
              { dataset: { country: o.country } },
              el("td", {}, countryLink(o.country, o.name, { year: String(year) })),
              o.months.map((m) =>
                el(
                  "td",
                  {
                    class: `cell ${m.state}`,
                    title: t("completeness.cellTitle", { office: o.name, month: monthName(m.month, "long"), year, state: state(m) }),
                    dataset: { month: m.month, state: m.state, count: m.sitreps },
                  },
                  el("span", {}, m.state === "reported" ? String(m.sitreps) : SYMBOL[m.state]),
                ),
              ),
              el("td", {}, o.missing ? el("span", { class: "badge late" }, String(o.missing)) : el("span", { class: "badge ok" }, "0")),
            ),
          )
        : el("tr", {}, el("td", { colspan: 14, class: "muted" }, t("completeness.noOffices"))),
    ),
  );
});
