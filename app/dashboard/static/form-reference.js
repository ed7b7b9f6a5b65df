// The reference data the form chooses from: sectors with their indicators, divisions,
// phases, the countries the user reports for, a country's admin areas and its crises.
// The service worker keeps a copy of each answer, so all of it works offline once seen.

import { get } from "./api.js";

/** Sectors, divisions, phases and the countries this user may report for. */
export async function loadReference(user) {
  const [sectors, divisions, phases, countries] = await Promise.all([
    get("/sectors"),
    get("/divisions"),
    get("/phases"),
    get("/countries"),
  ]);
  const own = user.role === "admin" ? countries : countries.filter((c) => user.countries.includes(c.code));
  return {
    sectors,
    divisions,
    phases,
    countries: own,
    sector: new Map(sectors.map((s) => [s.code, s])),
  };
}

/** A country's admin areas: {admin1: [...], children: Map(admin1 → [...]), byCode: Map}. */
export async function adminAreas(country) {
  const areas = await get(`/countries/${encodeURIComponent(country)}/admin-areas`, { level: "all" });
  const admin1 = areas.filter((a) => a.level === 1).sort((a, b) => a.name.localeCompare(b.name));
  const children = new Map(admin1.map((a) => [a.code, []]));
  for (const area of areas) if (area.level === 2 && children.has(area.parent)) children.get(area.parent).push(area);
  for (const list of children.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  return { admin1, children, byCode: new Map(areas.map((a) => [a.code, a])) };
}

/** The crises of a country, newest first. */
export async function crisesOf(country) {
  return (await get("/crises", { country, limit: 1000 })).items;
}
