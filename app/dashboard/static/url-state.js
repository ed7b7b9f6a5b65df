// The filters of a view live in the URL, so that a view can be shared and Back works.
// Changing one pushes a history entry and dispatches "ct:filterchange" on document; the
// page and the navigation render again on it (and on popstate).

import { el } from "./dom.js";

export const FILTERS = ["country", "year", "crisis_id", "sector", "division", "phase"];

// What each page keeps of the filters when the navigation leads to it.
export const NAV_KEEPS = {
  overview: ["year", "crisis_id", "sector", "division", "phase"],
  country: ["country", "year", "crisis_id", "sector", "division", "phase"],
  completeness: ["year", "crisis_id"],
};

/** The filters of the current URL, {name: value} for those set. */
export function filters() {
  const search = new URLSearchParams(location.search);
  const result = {};
  for (const name of FILTERS) {
    const value = search.get(name);
    if (value) result[name] = value;
  }
  return result;
}

/** "?year=2024&sector=wash" for the values named in keep (all filters by default). */
export function query(values, keep) {
  const params = new URLSearchParams();
  for (const name of keep || FILTERS) if (values[name]) params.set(name, values[name]);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** Changes one filter: the URL (so the view can be shared), then whoever listens. */
export function setFilter(name, value) {
  const values = filters();
  if (value) values[name] = value;
  else delete values[name];
  history.pushState(null, "", location.pathname + query(values));
  document.dispatchEvent(new CustomEvent("ct:filterchange", { detail: { name, value } }));
}

/** The link to a dashboard page with the filters it keeps from the current view. */
export function pageHref(page, path, extra) {
  const keep = NAV_KEEPS[page];
  return keep ? path + query({ ...filters(), ...(extra || {}) }, keep) : path;
}

/** A link to a country's page that keeps the current view's filters (and extra ones). */
export function countryLink(code, name, extra) {
  return el(
    "a",
    { href: pageHref("country", "/dashboard/country", { country: code, ...(extra || {}) }), dataset: { country: code } },
    name || code,
  );
}
