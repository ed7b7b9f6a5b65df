// The service's rules for a sitrep (app/sitreps/rules.py, DOMAIN.md), checked in the
// browser before anything is sent, so that the officer sees each problem at its input at
// once, with no connection. Problems carry the same `loc` as the service's 422 `errors`
// (["body", "lines", 1, "disaggregation"]), and a message key of form-messages.js with its
// parameters. The service stays the authority: what it refuses is shown the same way.

export const MAX_PEOPLE = 1_000_000_000;
export const MAX_PERIOD_DAYS = 366;
const MAX_COUNT_INDICATOR = 1_000_000_000;
const DAY_MS = 86_400_000;

function days(iso) {
  return Math.round(Date.parse(`${iso}T00:00:00Z`) / DAY_MS);
}

export function todayIso(now = new Date()) {
  const local = new Date(now.getTime() - now.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 10);
}

function isCount(value) {
  return Number.isInteger(value) && value >= 0 && value <= MAX_PEOPLE;
}

/**
 * Every problem of a sitrep body (as POST /sitreps takes it) against the reference data:
 * {countries: Set of ISO3 the user may report for, areas: {byCode} of the body's country,
 * sectors: Map code → sector, crises: [crisis] of the country}. Returns [{loc, key, params}].
 */
export function check(body, ref, today = todayIso()) {
  const problems = [];
  const add = (loc, key, params = {}) => problems.push({ loc: ["body", ...loc], key, params });
  if (!body.country) add(["country"], "rule.required");
  else if (!ref.countries.has(body.country)) add(["country"], "rule.country_not_yours", { country: body.country });
  if (!body.period_start) add(["period_start"], "rule.required");
  if (!body.period_end) add(["period_end"], "rule.required");
  if (body.period_start && body.period_end) {
    const length = days(body.period_end) - days(body.period_start) + 1;
    if (length < 1) add(["period_end"], "rule.period_backwards");
    else if (length > MAX_PERIOD_DAYS) add(["period_end"], "rule.period_long", { days: MAX_PERIOD_DAYS });
  }
  if (body.period_start && days(body.period_start) > days(today) + 1) add(["period_start"], "rule.period_future");
  if (body.crisis_id !== null && ref.crises && !ref.crises.some((c) => c.id === body.crisis_id)) {
    add(["crisis_id"], "rule.crisis_elsewhere", { country: body.country });
  }
  if (!body.lines.length) add(["lines"], "rule.no_lines");
  const seen = new Map();
  body.lines.forEach((line, i) => {
    for (const problem of lineProblems(line, body.country, ref)) add(["lines", i, ...problem.loc], problem.key, problem.params);
    const slot = [line.sector, line.division, line.phase, line.admin1 || "", line.admin2 || ""].join("|");
    if (seen.has(slot)) add(["lines", i], "rule.slot_repeated", { line: seen.get(slot) + 1 });
    else seen.set(slot, i);
  });
  return problems;
}

function lineProblems(line, country, ref) {
  const problems = [];
  const add = (loc, key, params = {}) => problems.push({ loc, key, params });
  for (const field of ["sector", "division", "phase"]) if (!line[field]) add([field], "rule.required");
  const areas = ref.areas ? ref.areas.byCode : null;
  if (line.admin1_unknown) add(["admin1"], "rule.area_unknown", { name: line.admin1_unknown });
  if (line.admin2_unknown) add(["admin2"], "rule.area_unknown", { name: line.admin2_unknown });
  if (line.admin2 && !line.admin1) add(["admin1"], "rule.admin2_needs_admin1");
  if (areas && line.admin1) {
    const area = areas.get(line.admin1);
    if (!area || area.level !== 1) add(["admin1"], "rule.admin1_not_in_country", { code: line.admin1, country });
    else if (line.admin2) {
      const below = areas.get(line.admin2);
      if (!below || below.level !== 2) add(["admin2"], "rule.admin2_not_in_country", { code: line.admin2, country });
      else if (below.parent !== line.admin1) add(["admin2"], "rule.admin2_elsewhere", { code: line.admin2, admin1: line.admin1 });
    }
  }
  const reached = line.people_reached;
  if (reached === null || reached === undefined) add(["people_reached"], "rule.required");
  else if (!isCount(reached)) add(["people_reached"], "rule.count");
  for (const field of ["people_reached_new", "people_reached_cumulative", "people_targeted", "persons_with_disabilities"]) {
    if (line[field] !== undefined && line[field] !== null && !isCount(line[field])) add([field], "rule.count");
  }
  const known = isCount(reached);
  if (known && isCount(line.people_reached_new) && line.people_reached_new > reached) {
    add(["people_reached_new"], "rule.new_above_reached", { n: line.people_reached_new, reached });
  }
  if (known && isCount(line.people_reached_cumulative) && line.people_reached_cumulative < reached) {
    add(["people_reached_cumulative"], "rule.cumulative_below_reached", { n: line.people_reached_cumulative, reached });
  }
  if (known && isCount(line.persons_with_disabilities) && line.persons_with_disabilities > reached) {
    add(["persons_with_disabilities"], "rule.pwd_above_reached", { n: line.persons_with_disabilities, reached });
  }
  if (line.disaggregation_partial) add(["disaggregation"], "rule.disaggregation_partial");
  if (line.disaggregation) {
    const d = line.disaggregation;
    const parts = ["women", "men", "girls", "boys"];
    for (const part of parts) if (!isCount(d[part])) add(["disaggregation", part], "rule.count");
    const total = parts.reduce((sum, part) => sum + (isCount(d[part]) ? d[part] : 0), 0);
    if (known && total !== reached) add(["disaggregation"], "rule.disaggregation_sum", { total, reached });
  }
  const sector = ref.sectors.get(line.sector);
  if (sector) {
    const own = new Map(sector.indicators.map((i) => [i.code, i]));
    for (const [name, value] of Object.entries(line.indicators || {})) {
      const indicator = own.get(name);
      if (!indicator) add(["indicators", name], "rule.indicator_other_sector", { name, sector: sector.code });
      else if (!Number.isFinite(value) || value < 0) add(["indicators", name], "rule.not_negative");
      else if (indicator.kind === "count" && (!Number.isInteger(value) || value > MAX_COUNT_INDICATOR)) {
        add(["indicators", name], "rule.whole_number");
      } else if (indicator.kind !== "count" && Math.round(value * 100) !== value * 100) {
        add(["indicators", name], "rule.two_decimals");
      }
    }
  }
  return problems;
}
