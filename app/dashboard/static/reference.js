// The code lists the pages show (sectors, DHRR divisions, MCOF phases, countries) and the
// crises a user may pick. Codes, their order and the English names come from the API's
// reference lists, once per session and language; names in French and Spanish, and the
// short names charts use, come from the message catalogs (dashboard-messages.js).

import { get } from "./api.js";
import { has, lang, t } from "./i18n.js";

const REFERENCE = "crisis-tracker.reference";
const LISTS = { sectors: "/sectors", divisions: "/divisions", phases: "/phases", countries: "/countries" };
// The catalog's key for a code of each list: sector.wash, division.pcca, phase.response.
const KEYS = { sectors: "sector", divisions: "division", phases: "phase", countries: "country" };

/** {sectors: {code: name}, divisions: ..., phases: ..., countries: ...}, in the API's order. */
export async function reference() {
  // Kept in sessionStorage under one key (sign-out removes it), for the language it was
  // read in: the API may one day name things in the Accept-Language it is sent.
  const cached = JSON.parse(sessionStorage.getItem(REFERENCE) || "null");
  if (cached && cached.lang === lang()) return cached.lists;
  const names = (items) => Object.fromEntries(items.map((i) => [i.code, i.name]));
  const entries = await Promise.all(
    Object.entries(LISTS).map(async ([list, path]) => [list, names(await get(path))]),
  );
  const lists = Object.fromEntries(entries);
  sessionStorage.setItem(REFERENCE, JSON.stringify({ lang: lang(), lists }));
  return lists;
}

/** The full name of a code of a list (sectors, divisions, phases, countries) in the current
 * language: the catalog's if it has one in this language, else the API's, else the code. */
export function nameOf(ref, list, code) {
  const key = `${KEYS[list]}.${code}`;
  if (has(key)) return t(key);
  return (ref[list] || {})[code] || code;
}

/** The name a chart shows for a code: short enough for a phone's axis (it may hold a line
 * break, "\n"), or the full name if the catalogs have no short one. */
export function shortNameOf(ref, list, code) {
  const key = `${KEYS[list]}.${code}.short`;
  return t(key) !== key ? t(key) : nameOf(ref, list, code);
}

/** The crises a user may pick: all of them, or those in a field officer's countries. */
export async function crises(user) {
  const params = { limit: 1000 };
  if (user.role === "field") params.country = user.countries.join(",");
  return (await get("/crises", params)).items;
}
