// The bar of filters above a page's figures: one <select> per filter, each change written
// to the URL (url-state.js), and a link that clears them.

import { el, fill } from "./dom.js";
import { t } from "./i18n.js";
import { nameOf } from "./reference.js";
import { filters, query, setFilter } from "./url-state.js";

/** Fills <form id="filters">; fields are {name, label, options: [[value, text]], any:
 * "All ...", value}: any is the option for no filter, value the one chosen if not in the URL. */
export function filterBar(fields) {
  const current = filters();
  const focused = document.activeElement && document.activeElement.name;
  const form = fill(
    "filters",
    fields.map((field) =>
      el(
        "label",
        {},
        field.label,
        el(
          "select",
          {
            name: field.name,
            id: `filter-${field.name}`,
            onchange: (event) => setFilter(field.name, event.target.value),
          },
          field.any ? el("option", { value: "" }, field.any) : null,
          field.options.map(([value, text]) =>
            el("option", { value, selected: String(value) === String(field.value ?? current[field.name] ?? "") }, text),
          ),
        ),
      ),
    ),
    Object.keys(current).some((k) => k !== "country")
      ? el("a", { class: "reset", href: location.pathname + query(current, ["country"]) }, t("filters.clear"))
      : null,
  );
  form.setAttribute("aria-label", t("filters.label"));
  form.onsubmit = (event) => event.preventDefault();
  if (focused && form.elements[focused]) form.elements[focused].focus();
}

/** [[code, name]] of a reference list, in its order, named in the current language. */
export function codeOptions(ref, list) {
  return Object.keys(ref[list]).map((code) => [code, nameOf(ref, list, code)]);
}

export function yearOptions(years) {
  return years.map((y) => [String(y), String(y)]);
}

export function crisisOptions(list) {
  return list.map((c) => [String(c.id), c.name]);
}

/** The filters the overview and a country's page share: crisis, sector, division, phase. */
export function scopeFields(ref, crises) {
  return [
    { name: "crisis_id", label: t("filters.crisis"), any: t("filters.allCrises"), options: crisisOptions(crises) },
    { name: "sector", label: t("filters.sector"), any: t("filters.allSectors"), options: codeOptions(ref, "sectors") },
    { name: "division", label: t("filters.division"), any: t("filters.allDivisions"), options: codeOptions(ref, "divisions") },
    { name: "phase", label: t("filters.phase"), any: t("filters.allPhases"), options: codeOptions(ref, "phases") },
  ];
}
