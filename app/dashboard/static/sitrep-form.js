// The sitrep form (/dashboard/sitrep; ?id=N amends sitrep N, ?draft=ID resumes a draft).
//
// The form's values are kept in IndexedDB as they are typed (store.js); the service's rules
// are checked as they are typed (rules.js) and shown at each input; "Submit" puts the sitrep
// in the outbox (outbox.js), which sends it at once when there is a connection and later
// when there is none. What the service refuses comes back to the inputs it points at.

import * as api from "./api.js";
import { fmtDate, fmtNumber, has, t } from "./i18n.js";
import { $, el, status } from "./dom.js";
import { loaded, runOutbox, start } from "./form-page.js";
import * as outbox from "./outbox.js";
import { holdingSitrep, outcome, stateBadge } from "./outbox-view.js";
import { adminAreas, crisesOf, loadReference } from "./form-reference.js";
import { check, todayIso } from "./rules.js";
import * as store from "./store.js";

const PEOPLE = ["women", "men", "girls", "boys"];
const HEAD_FIELDS = { country: "country", crisis_id: "crisis", period_start: "period-start", period_end: "period-end", narrative: "narrative" };

let user;
let ref;
let sendNow;
let record = null; // the IndexedDB record of what is on the form (null until something is typed)
let amendOf = null; // {sitrep_id, etag, base} when the form amends a sitrep
let areas = null; // admin areas of the chosen country
let crises = [];
let lineUids = 0;
let showAll = false;
const touched = new Set();
let serverProblems = []; // [{loc, msg}] of the service's last refusal
let saveTimer = null;
let outcomeId = null; // the record whose answer the page shows below the form

// --- names -----------------------------------------------------------------------------

function named(key, fallback) {
  return has(key) ? t(key) : fallback;
}

function areaLabel(area) {
  return `${area.name} (${area.code})`;
}

function normal(text) {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").trim().toLowerCase();
}

/** The p-code a typed admin area stands for, among `candidates`: "Name (CODE)", the code
 * itself, or a name that only one area has. "" for nothing typed; undefined when unknown. */
function resolveArea(text, candidates) {
  const typed = (text || "").trim();
  if (!typed) return "";
  const coded = /\(([A-Za-z0-9]+)\)\s*$/.exec(typed);
  const code = (coded ? coded[1] : typed).toUpperCase();
  const byCode = candidates.find((a) => a.code === code);
  if (byCode) return byCode.code;
  const byName = candidates.filter((a) => normal(a.name) === normal(typed));
  return byName.length === 1 ? byName[0].code : undefined;
}

// --- periods ---------------------------------------------------------------------------

function iso(date) {
  return date.toISOString().slice(0, 10);
}

function utc(isoDate) {
  return new Date(`${isoDate}T00:00:00Z`);
}

function addDays(isoDate, n) {
  const d = utc(isoDate);
  d.setUTCDate(d.getUTCDate() + n);
  return iso(d);
}

function monthOf(isoDate) {
  const d = utc(isoDate);
  const first = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0));
  return [iso(first), iso(last)];
}

function thisWeek() {
  const today = todayIso();
  const weekday = (utc(today).getUTCDay() + 6) % 7; // Monday 0
  const monday = addDays(today, -weekday);
  return [monday, addDays(monday, 6)];
}

function lastMonth() {
  const [first] = monthOf(todayIso());
  return monthOf(addDays(first, -1));
}

/** The period after one: the next month for a calendar month, else as long, right after. */
function nextPeriod(start, end) {
  const [first, last] = monthOf(start);
  if (start === first && end === last) return monthOf(addDays(end, 1));
  const length = Math.round((utc(end) - utc(start)) / 86_400_000);
  return [addDays(end, 1), addDays(end, 1 + length)];
}

// --- the form's values ------------------------------------------------------------------

function emptyLine() {
  return {
    sector: "", division: "", phase: "", admin1: "", admin2: "", people_reached: "",
    figure: "new", figure_value: "", people_targeted: "", women: "", men: "", girls: "",
    boys: "", persons_with_disabilities: "", indicators: {},
  };
}

function emptyForm(country = "") {
  return { country, crisis_id: "", period_start: "", period_end: "", narrative: "", lines: [emptyLine()] };
}

function text(n) {
  return n === null || n === undefined ? "" : String(n);
}

/** A sitrep as the service returns it, as the form's values. */
function formOf(sitrep) {
  return {
    country: sitrep.country,
    crisis_id: text(sitrep.crisis_id),
    period_start: sitrep.period_start,
    period_end: sitrep.period_end,
    narrative: sitrep.narrative || "",
    lines: sitrep.lines.map((line) => {
      const area1 = line.admin1 && areas && areas.byCode.get(line.admin1);
      const area2 = line.admin2 && areas && areas.byCode.get(line.admin2);
      const cumulative = line.people_reached_cumulative !== undefined && line.people_reached_cumulative !== null;
      const d = line.disaggregation || {};
      return {
        sector: line.sector,
        division: line.division,
        phase: line.phase,
        admin1: area1 ? areaLabel(area1) : text(line.admin1),
        admin2: area2 ? areaLabel(area2) : text(line.admin2),
        people_reached: text(line.people_reached),
        figure: cumulative ? "cumulative" : "new",
        figure_value: text(cumulative ? line.people_reached_cumulative : line.people_reached_new),
        people_targeted: text(line.people_targeted),
        women: text(d.women), men: text(d.men), girls: text(d.girls), boys: text(d.boys),
        persons_with_disabilities: text(line.persons_with_disabilities),
        indicators: Object.fromEntries(Object.entries(line.indicators || {}).map(([k, v]) => [k, text(v)])),
      };
    }),
  };
}

function count(value) {
  const typed = String(value ?? "").trim();
  if (!typed) return null;
  return /^-?\d+(\.\d+)?$/.test(typed) ? Number(typed) : NaN;
}

/**
 * The sitrep the form's values stand for, as POST /sitreps takes it, and the same with the
 * facts only the form knows (a name that matches no area, a half-filled split) for rules.js.
 */
function bodyOf(form) {
  const admin1 = areas ? areas.admin1 : [];
  const checked = [];
  const lines = form.lines.map((l) => {
    const code1 = resolveArea(l.admin1, admin1);
    const code2 = resolveArea(l.admin2, code1 && areas ? areas.children.get(code1) || [] : []);
    const line = {
      sector: l.sector,
      division: l.division,
      phase: l.phase,
      admin1: code1 || null,
      admin2: code2 || null,
      people_reached: count(l.people_reached),
      people_targeted: count(l.people_targeted),
      disaggregation: null,
      persons_with_disabilities: count(l.persons_with_disabilities),
      indicators: {},
    };
    const figure = count(l.figure_value);
    if (figure !== null) line[l.figure === "cumulative" ? "people_reached_cumulative" : "people_reached_new"] = figure;
    const parts = PEOPLE.map((p) => count(l[p]));
    if (parts.every((p) => p !== null)) line.disaggregation = Object.fromEntries(PEOPLE.map((p, i) => [p, parts[i]]));
    const sector = ref.sector.get(l.sector);
    const own = new Set(sector ? sector.indicators.map((i) => i.code) : []);
    for (const [name, value] of Object.entries(l.indicators || {})) {
      if (own.has(name) && count(value) !== null) line.indicators[name] = count(value);
    }
    checked.push({
      ...line,
      admin1_unknown: code1 === undefined ? l.admin1 : null,
      admin2_unknown: code2 === undefined && code1 ? l.admin2 : null,
      disaggregation_partial: parts.some((p) => p !== null) && parts.some((p) => p === null),
    });
    return line;
  });
  const body = {
    country: form.country,
    crisis_id: form.crisis_id ? Number(form.crisis_id) : null,
    period_start: form.period_start,
    period_end: form.period_end,
    narrative: form.narrative.trim() ? form.narrative : null,
    lines,
  };
  return { body, checked: { ...body, lines: checked } };
}

// --- drawing ----------------------------------------------------------------------------

function field(id, labelText, input, { hint, wide } = {}) {
  const described = [hint ? `${id}-hint` : null, `${id}-msg`].filter(Boolean).join(" ");
  input.id = id;
  input.setAttribute("aria-describedby", described);
  return el(
    "div",
    { class: `field${wide ? " wide" : ""}` },
    el("label", { for: id }, labelText),
    input,
    hint ? el("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    el("p", { class: "msg", id: `${id}-msg`, hidden: true }),
  );
}

function number(name, value, extra = {}) {
  return el("input", { type: "number", inputmode: "numeric", min: "0", step: "1", dataset: { field: name }, value, ...extra });
}

function options(list, chosen, blank) {
  return [
    el("option", { value: "" }, blank),
    ...list.map((item) => el("option", { value: item.code, selected: item.code === chosen }, item.label)),
  ];
}

function lineElement(line, index) {
  const uid = `l${++lineUids}`;
  const node = el("fieldset", { class: "line", id: uid, dataset: { uid }, "aria-describedby": `${uid}-msg` });
  const sectors = ref.sectors.map((s) => ({ code: s.code, label: named(`sector.${s.code}`, s.name) }));
  const divisions = ref.divisions.map((d) => ({ code: d.code, label: named(`division.${d.code}`, d.name) }));
  const phases = ref.phases.map((p) => ({ code: p.code, label: named(`phase.${p.code}`, p.name) }));
  const sector = el("select", { dataset: { field: "sector" } }, options(sectors, line.sector, t("form.choose")));
  const division = el("select", { dataset: { field: "division" } }, options(divisions, line.division, t("form.choose")));
  const phase = el("select", { dataset: { field: "phase" } }, options(phases, line.phase, t("form.choose")));
  const admin1 = el("input", { type: "text", list: "admin1-options", autocomplete: "off", dataset: { field: "admin1" }, value: line.admin1 });
  const admin2List = el("datalist", { id: `${uid}-admin2-options` });
  const admin2 = el("input", { type: "text", list: `${uid}-admin2-options`, autocomplete: "off", dataset: { field: "admin2" }, value: line.admin2 });
  const newChoice = el("input", { type: "radio", name: `${uid}-figure`, value: "new", id: `${uid}-figure-new`, checked: line.figure !== "cumulative", dataset: { field: "figure" } });
  const cumulativeChoice = el("input", { type: "radio", name: `${uid}-figure`, value: "cumulative", id: `${uid}-figure-cumulative`, checked: line.figure === "cumulative", dataset: { field: "figure" } });
  const figureLabel = line.figure === "cumulative" ? t("line.cumulative_value") : t("line.new_value");
  const figure = number("figure_value", line.figure_value);
  const indicators = el("div", { class: "fields indicators", id: `${uid}-indicators` });
  node.append(
    el("legend", {}, t("line.legend", { n: index + 1 })),
    el("p", { class: "msg", id: `${uid}-msg`, hidden: true }),
    el(
      "div",
      { class: "fields" },
      field(`${uid}-sector`, t("line.sector"), sector),
      field(`${uid}-division`, t("line.division"), division),
      field(`${uid}-phase`, t("line.phase"), phase),
      field(`${uid}-admin1`, t("line.admin1"), admin1, { hint: t("line.admin1_hint"), wide: true }),
      field(`${uid}-admin2`, t("line.admin2"), admin2, { hint: t("line.admin2_hint"), wide: true }),
      admin2List,
      field(`${uid}-people_reached`, t("line.people_reached"), number("people_reached", line.people_reached)),
    ),
    el(
      "fieldset",
      { class: "choice", id: `${uid}-figure-choice` },
      el("legend", {}, t("line.figure_choice")),
      el("label", { for: `${uid}-figure-new` }, newChoice, " ", t("line.figure_new")),
      el("label", { for: `${uid}-figure-cumulative` }, cumulativeChoice, " ", t("line.figure_cumulative")),
    ),
    el(
      "div",
      { class: "fields" },
      field(`${uid}-figure`, figureLabel, figure),
      field(`${uid}-people_targeted`, t("line.people_targeted"), number("people_targeted", line.people_targeted), { hint: t("line.people_targeted_hint") }),
      field(`${uid}-persons_with_disabilities`, t("line.pwd"), number("persons_with_disabilities", line.persons_with_disabilities)),
    ),
    el(
      "fieldset",
      { class: "split", id: `${uid}-dis`, "aria-describedby": `${uid}-dis-sum ${uid}-dis-msg` },
      el("legend", {}, t("line.disaggregation")),
      el("div", { class: "fields" }, PEOPLE.map((p) => field(`${uid}-${p}`, t(`line.${p}`), number(p, line[p])))),
      el("p", { class: "sum", id: `${uid}-dis-sum`, "aria-live": "polite" }),
      el("p", { class: "msg", id: `${uid}-dis-msg`, hidden: true }),
    ),
    indicators,
    el("button", { type: "button", class: "secondary remove-line", dataset: { action: "remove" } }, t("line.remove", { n: index + 1 })),
  );
  fillIndicators(node, line.sector, line.indicators);
  fillAdmin2(node);
  updateSum(node);
  return node;
}

function fillIndicators(node, sectorCode, values) {
  const uid = node.dataset.uid;
  const holder = node.querySelector(".indicators");
  const sector = ref.sector.get(sectorCode);
  holder.replaceChildren(
    ...(sector ? sector.indicators : []).map((indicator) => {
      const input = el("input", {
        type: "number",
        inputmode: indicator.kind === "count" ? "numeric" : "decimal",
        min: "0",
        step: indicator.kind === "count" ? "1" : "0.01",
        dataset: { indicator: indicator.code },
        value: (values || {})[indicator.code] || "",
      });
      return field(`${uid}-ind-${indicator.code}`, named(`indicator.${indicator.code}`, indicator.name), input);
    }),
  );
}

function fillAdmin2(node) {
  const uid = node.dataset.uid;
  const list = node.querySelector(`#${uid}-admin2-options`);
  const typed = node.querySelector('[data-field="admin1"]').value;
  const code1 = areas ? resolveArea(typed, areas.admin1) : "";
  const children = code1 && areas ? areas.children.get(code1) || [] : [];
  list.replaceChildren(...children.map((a) => el("option", { value: areaLabel(a) })));
  showCode(node, "admin1", code1, t("line.admin1_hint"));
  const code2 = resolveArea(node.querySelector('[data-field="admin2"]').value, children);
  showCode(node, "admin2", code2, code1 ? t("line.admin2_hint_of", { n: fmtNumber(children.length) }) : t("line.admin2_hint"));
}

function showCode(node, which, code, fallback) {
  const hint = node.querySelector(`#${node.dataset.uid}-${which}-hint`);
  if (hint) hint.textContent = code ? t("line.pcode", { code }) : fallback;
}

function updateSum(node) {
  const get = (name) => count(node.querySelector(`[data-field="${name}"]`).value);
  const reached = get("people_reached");
  const parts = PEOPLE.map(get);
  const total = parts.reduce((s, p) => s + (Number.isFinite(p) ? p : 0), 0);
  const sum = node.querySelector(`#${node.dataset.uid}-dis-sum`);
  const matches = reached !== null && total === reached;
  sum.textContent = t("line.sum", { total: fmtNumber(total), reached: reached === null || Number.isNaN(reached) ? "—" : fmtNumber(reached) });
  sum.classList.toggle("ok", matches && parts.every((p) => p !== null));
  // Nothing split yet: a plain sum, not a mismatch.
  sum.classList.toggle("pending", parts.every((p) => p === null));
}

function drawLines(lines) {
  $("lines").replaceChildren(...lines.map((line, i) => lineElement(line, i)));
  for (const node of document.querySelectorAll("#lines fieldset.line .remove-line")) {
    node.hidden = lines.length === 1;
  }
}

function drawCountries(chosen) {
  const list = ref.countries.map((c) => ({ code: c.code, label: `${c.name} (${c.code})` }));
  $("country").replaceChildren(...options(list, chosen, t("form.choose")));
}

function drawCrises(chosen) {
  $("crisis").replaceChildren(
    el("option", { value: "" }, t("form.no_crisis")),
    ...crises.map((c) => el("option", { value: String(c.id), selected: String(c.id) === chosen }, `${c.name} (${fmtDate(c.started_on)})`)),
  );
}

async function chooseCountry(code) {
  areas = null;
  crises = [];
  if (code) {
    try {
      [areas, crises] = await Promise.all([adminAreas(code), crisesOf(code)]);
      areas.country = code;
    } catch (error) {
      status(t("form.reference_failed", { reason: error.message }), "error");
    }
  }
  let list = document.getElementById("admin1-options");
  if (!list) {
    list = el("datalist", { id: "admin1-options" });
    document.body.append(list);
  }
  list.replaceChildren(...(areas ? areas.admin1 : []).map((a) => el("option", { value: areaLabel(a) })));
}

async function draw(form) {
  if (form.country !== (areas ? areas.country : "")) await chooseCountry(form.country);
  drawCountries(form.country);
  drawCrises(form.crisis_id);
  $("period-start").value = form.period_start;
  $("period-end").value = form.period_end;
  $("narrative").value = form.narrative;
  drawLines(form.lines.length ? form.lines : [emptyLine()]);
  $("title").textContent = amendOf ? t("form.title.amend", { id: amendOf.sitrep_id, revision: amendOf.base.revision }) : t("form.title.new");
  validate();
}

function readForm() {
  const lines = [...document.querySelectorAll("#lines fieldset.line")].map((node) => {
    const value = (name) => node.querySelector(`[data-field="${name}"]`).value;
    const figure = node.querySelector('[data-field="figure"]:checked');
    const line = {
      sector: value("sector"),
      division: value("division"),
      phase: value("phase"),
      admin1: value("admin1"),
      admin2: value("admin2"),
      people_reached: value("people_reached"),
      figure: figure ? figure.value : "new",
      figure_value: value("figure_value"),
      people_targeted: value("people_targeted"),
      persons_with_disabilities: value("persons_with_disabilities"),
      indicators: {},
    };
    for (const p of PEOPLE) line[p] = value(p);
    for (const input of node.querySelectorAll("[data-indicator]")) {
      if (input.value.trim()) line.indicators[input.dataset.indicator] = input.value;
    }
    return line;
  });
  return {
    country: $("country").value,
    crisis_id: $("crisis").value,
    period_start: $("period-start").value,
    period_end: $("period-end").value,
    narrative: $("narrative").value,
    lines,
  };
}

// --- problems at their inputs -------------------------------------------------------------

/** The element a problem's loc points at: an input, a group, a line, or null. */
function targetOf(loc) {
  const [, first, index, name, detail] = loc;
  if (first in HEAD_FIELDS) return $(HEAD_FIELDS[first]);
  if (first !== "lines") return null;
  if (index === undefined) return $("lines");
  const line = document.querySelectorAll("#lines fieldset.line")[index];
  if (!line) return $("lines");
  const uid = line.dataset.uid;
  if (name === undefined) return line;
  if (name === "people_reached_new" || name === "people_reached_cumulative") return $(`${uid}-figure`);
  if (name === "disaggregation") return (detail && $(`${uid}-${detail}`)) || $(`${uid}-dis`);
  if (name === "indicators") return (detail && $(`${uid}-ind-${detail}`)) || line;
  return $(`${uid}-${name}`) || line;
}

function messageNode(target) {
  if (target.id === "lines") return $("lines-msg");
  return $(`${target.id}-msg`);
}

function isTouched(target) {
  if (showAll || touched.has(target.id)) return true;
  for (const id of touched) {
    const node = document.getElementById(id);
    if (node && target.contains(node)) return true;
  }
  return false;
}

/** Checks the form, shows the problems of what was touched (everything after a submit),
 * and the service's refusal, and returns the body and the problems. */
function validate() {
  const form = readForm();
  const { body, checked } = bodyOf(form);
  const countries = new Set(ref.countries.map((c) => c.code));
  const problems = check(checked, { countries, areas, sectors: ref.sector, crises: areas ? crises : null });
  const shown = new Map(); // message node → [text]
  const summary = [];
  for (const node of document.querySelectorAll("#sitrep .msg")) shown.set(node, []);
  const place = (loc, message, always) => {
    const target = targetOf(loc);
    const msg = target && messageNode(target);
    if (!msg) {
      summary.push(message);
      return;
    }
    if (always || isTouched(target)) shown.get(msg).push(message);
  };
  for (const problem of problems) {
    const params = Object.entries(problem.params).map(([k, v]) => [k, typeof v === "number" ? fmtNumber(v) : v]);
    place(problem.loc, t(problem.key, Object.fromEntries(params)), false);
  }
  for (const problem of serverProblems) place(problem.loc, problem.msg, true);
  for (const [msg, texts] of shown) {
    msg.textContent = texts.join(" ");
    msg.hidden = texts.length === 0;
    const input = document.querySelector(`[aria-describedby~="${msg.id}"]`);
    if (input) {
      if (texts.length) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }
  for (const node of document.querySelectorAll("#lines fieldset.line")) updateSum(node);
  return { form, body, problems, summary };
}

function showSummary(items, extra = []) {
  const node = $("summary");
  if (!items.length && !extra.length) {
    node.hidden = true;
    node.replaceChildren();
    return;
  }
  node.hidden = false;
  node.replaceChildren(
    el("h2", {}, t("form.summary_title")),
    items.length ? el("ul", {}, items.map((item) => el("li", {}, item))) : null,
    ...extra,
  );
}

// --- keeping the draft ----------------------------------------------------------------------

async function save() {
  clearTimeout(saveTimer);
  const form = readForm();
  if (!record) {
    record = store.newRecord(user.name, form, amendOf);
    if (!amendOf) history.replaceState(null, "", `/dashboard/sitrep?draft=${record.id}`);
  }
  if (!outbox.editable(record)) return;
  record.form = form;
  if (record.state !== "draft") {
    record.state = "draft";
  }
  record = await store.put(record);
  $("draft-state").textContent = t("form.saved", { time: new Date().toLocaleTimeString() });
}

function saveSoon() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(save, 250);
}

function edited(event) {
  const target = event.target;
  if (target.id) {
    // A problem the service named for this input is answered by editing it.
    serverProblems = serverProblems.filter((p) => {
      const at = targetOf(p.loc);
      return !(at && (at === target || at.contains(target) || (target.closest(".split") && at.id.endsWith("-dis"))));
    });
  }
  const line = target.closest && target.closest("fieldset.line");
  if (line && target.dataset.field === "sector") fillIndicators(line, target.value, {});
  if (line && target.dataset.field === "admin1") fillAdmin2(line);
  if (line && target.dataset.field === "admin2") fillAdmin2(line);
  if (line && target.dataset.field === "figure") {
    const label = line.querySelector(`label[for="${line.dataset.uid}-figure"]`);
    label.textContent = target.value === "cumulative" ? t("line.cumulative_value") : t("line.new_value");
  }
  validate();
  saveSoon();
}

// --- sending ------------------------------------------------------------------------------

function showOutcome(shown = record) {
  const node = $("outcome");
  if (!shown || shown.state === "draft") {
    node.hidden = true;
    outcomeId = null;
    return;
  }
  outcomeId = shown.id;
  node.hidden = false;
  node.replaceChildren(
    el("h2", {}, t("form.outcome_title"), " ", stateBadge(shown)),
    ...outcome(shown),
    el("p", {}, el("a", { href: "/dashboard/sitreps" }, t("form.to_my_sitreps"))),
  );
}

async function afterAnswer() {
  record = await store.getRecord(record.id);
  serverProblems = [];
  if (record.state === "accepted") {
    status("");
    showSummary([]);
    showOutcome();
    await startNew(record.form.country, false);
    return;
  }
  if (record.state === "refused") {
    const errors = (record.problem && record.problem.errors) || [];
    serverProblems = errors.map((e) => ({ loc: e.loc, msg: e.msg }));
    const { summary } = validate();
    const unplaced = errors.filter((e) => !targetOf(e.loc) || !messageNode(targetOf(e.loc))).map((e) => e.msg);
    showSummary(errors.length ? unplaced.concat(summary) : [record.problem.detail || t("outbox.refused")]);
    status(t("form.refused", { n: fmtNumber(errors.length || 1) }), "error");
    focusFirstProblem();
  } else if (record.state === "conflict") {
    const holder = holdingSitrep(record.problem);
    showSummary([record.problem.detail], holder
      ? [el("p", {}, el("a", { href: `/dashboard/sitrep?id=${holder}`, class: "amend-instead", dataset: { sitrep: holder } }, t("outbox.amend_instead", { id: holder })))]
      : []);
    status(t("form.conflict"), "error");
    $("summary").focus();
  } else if (record.state === "stale") {
    await showNewerRevision();
  } else {
    status(navigator.onLine ? t("form.queued_retry") : t("form.queued_offline"));
    showOutcome();
    await startNew(record.form.country, false);
    return;
  }
  showOutcome();
}

function focusFirstProblem() {
  const invalid = document.querySelector('#sitrep [aria-invalid="true"]');
  if (invalid) invalid.focus();
}

async function submit(event) {
  event.preventDefault();
  showAll = true;
  const { form, body, problems, summary } = validate();
  if (problems.length) {
    showSummary(summary);
    status(t("form.fix_first", { n: fmtNumber(problems.length) }), "error");
    focusFirstProblem();
    return;
  }
  await save();
  record.form = form;
  await store.put(record);
  await outbox.enqueue(record.id, body);
  // From now on the page reports on this sitrep, not on one submitted before it.
  outcomeId = record.id;
  showSummary([]);
  status(t("form.sending"));
  // Offline too: the try fails at once, and leaves the retries (and, for a user who stays
  // signed in, the browser's Background Sync) scheduled.
  await sendNow(false);
  await afterAnswer();
}

// --- amendments and their conflicts -----------------------------------------------------------

function changesBetween(before, after) {
  const changes = [];
  const label = (line) => [line.sector, line.division, line.phase, line.admin2 || line.admin1 || t("line.country_wide")].join(" · ");
  for (const name of ["period_start", "period_end", "crisis_id", "narrative"]) {
    if ((before[name] ?? null) !== (after[name] ?? null)) {
      changes.push(t("diff.field", { field: t(`diff.${name}`), before: text(before[name]) || "—", after: text(after[name]) || "—" }));
    }
  }
  const keyOf = (line) => [line.sector, line.division, line.phase, line.admin1, line.admin2].join("|");
  const old = new Map(before.lines.map((l) => [keyOf(l), l]));
  const figures = ["people_reached", "people_reached_new", "people_targeted", "persons_with_disabilities"];
  for (const line of after.lines) {
    const was = old.get(keyOf(line));
    old.delete(keyOf(line));
    if (!was) {
      changes.push(t("diff.line_added", { line: label(line) }));
      continue;
    }
    for (const name of figures) {
      if ((was[name] ?? null) !== (line[name] ?? null)) {
        changes.push(t("diff.figure", { line: label(line), field: t(`diff.${name}`), before: was[name] ?? "—", after: line[name] ?? "—" }));
      }
    }
    if (JSON.stringify(was.disaggregation) !== JSON.stringify(line.disaggregation) || JSON.stringify(was.indicators) !== JSON.stringify(line.indicators)) {
      changes.push(t("diff.details", { line: label(line) }));
    }
  }
  for (const line of old.values()) changes.push(t("diff.line_removed", { line: label(line) }));
  return changes;
}

async function showNewerRevision() {
  let current;
  let etag;
  try {
    const answer = await api.request("GET", `/sitreps/${amendOf.sitrep_id}`);
    current = answer.body;
    etag = answer.headers.get("ETag");
  } catch (error) {
    status(error.message, "error");
    return;
  }
  const changes = changesBetween(amendOf.base, current);
  const reapply = el("button", { type: "button", class: "button", id: "reapply" }, t("stale.reapply", { revision: current.revision }));
  const discard = el("button", { type: "button", class: "secondary", id: "discard" }, t("stale.discard", { revision: current.revision }));
  reapply.addEventListener("click", async () => {
    amendOf = { sitrep_id: current.id, etag, base: current };
    record.amend = amendOf;
    record.state = "draft";
    await store.put(record);
    showSummary([]);
    await submit(new Event("submit"));
  });
  discard.addEventListener("click", async () => {
    await store.remove(record.id);
    record = null;
    amendOf = { sitrep_id: current.id, etag, base: current };
    showSummary([]);
    status("");
    await draw(formOf(current));
    showOutcome();
  });
  showSummary([], [
    el("p", { class: "stale-detail" }, t("stale.intro", { id: current.id, revision: current.revision, by: current.submitted_by })),
    el("ul", { class: "changes" }, (changes.length ? changes : [t("stale.no_changes")]).map((c) => el("li", {}, c))),
    el("p", { class: "muted" }, t("stale.yours")),
    el("div", { class: "row-actions" }, reapply, discard),
  ]);
  status(t("stale.status", { id: current.id }), "error");
  $("summary").focus();
}

// --- starting points --------------------------------------------------------------------------

async function startNew(country = "", clearStatus = true) {
  record = null;
  amendOf = null;
  serverProblems = [];
  showAll = false;
  touched.clear();
  history.replaceState(null, "", "/dashboard/sitrep");
  if (clearStatus) {
    status("");
    showSummary([]);
    $("outcome").hidden = true;
  }
  await draw(emptyForm(country));
}

async function startFromLast() {
  const country = $("country").value;
  if (!country) {
    touched.add("country");
    showAll = true;
    validate();
    $("country").focus();
    return;
  }
  let latest;
  try {
    latest = (await api.get("/sitreps", { country, status: "submitted", limit: 1 })).items[0];
  } catch (error) {
    status(t("form.last_failed", { reason: error.message }), "error");
    return;
  }
  if (!latest) {
    status(t("form.no_last", { country }));
    return;
  }
  if (!areas) await chooseCountry(country);
  const form = formOf(latest);
  [form.period_start, form.period_end] = nextPeriod(latest.period_start, latest.period_end);
  form.narrative = "";
  record = null;
  amendOf = null;
  await draw(form);
  await save();
  status(t("form.copied", { id: latest.id, start: fmtDate(latest.period_start), end: fmtDate(latest.period_end) }));
}

async function openAmendment(id) {
  const mine = (await store.recordsOf(user.name)).find((r) => r.amend && r.amend.sitrep_id === id && outbox.editable(r));
  let answer;
  try {
    answer = await api.request("GET", `/sitreps/${id}`);
  } catch (error) {
    if (!mine) throw error;
  }
  if (mine) {
    record = mine;
    amendOf = mine.amend;
    await chooseCountry(mine.form.country);
    await draw(mine.form);
    if (record.state !== "draft") await afterAnswer();
    return;
  }
  amendOf = { sitrep_id: id, etag: answer.headers.get("ETag"), base: answer.body };
  await chooseCountry(answer.body.country);
  await draw(formOf(answer.body));
}

async function openDraft(id) {
  const kept = await store.getRecord(id);
  if (!kept || kept.owner !== user.name) {
    await startNew(ref.countries.length === 1 ? ref.countries[0].code : "");
    return;
  }
  record = kept;
  amendOf = kept.amend;
  await draw(kept.form);
  if (!outbox.editable(kept) || kept.state !== "draft") await afterAnswer();
}

// --- the page -------------------------------------------------------------------------------------

function wire() {
  const form = $("sitrep");
  form.addEventListener("input", edited);
  form.addEventListener("change", async (event) => {
    if (event.target.id === "country") {
      await chooseCountry(event.target.value);
      drawCrises("");
      for (const line of document.querySelectorAll("#lines fieldset.line")) fillAdmin2(line);
    }
    edited(event);
  });
  form.addEventListener("focusout", (event) => {
    if (event.target.id) touched.add(event.target.id);
    validate();
  });
  form.addEventListener("submit", submit);
  form.addEventListener("click", (event) => {
    const button = event.target.closest('[data-action="remove"]');
    if (!button) return;
    const lines = readForm().lines;
    const index = [...document.querySelectorAll("#lines fieldset.line")].indexOf(button.closest("fieldset.line"));
    lines.splice(index, 1);
    drawLines(lines);
    const next = document.querySelectorAll("#lines fieldset.line")[Math.max(0, index - 1)];
    next.querySelector("select").focus();
    validate();
    saveSoon();
  });
  $("add-line").addEventListener("click", () => {
    const lines = readForm().lines;
    lines.push(emptyLine());
    drawLines(lines);
    const nodes = document.querySelectorAll("#lines fieldset.line");
    nodes[nodes.length - 1].querySelector("select").focus();
    validate();
    saveSoon();
  });
  const period = ([start, end]) => {
    $("period-start").value = start;
    $("period-end").value = end;
    touched.add("period-start");
    touched.add("period-end");
    validate();
    saveSoon();
  };
  $("this-week").addEventListener("click", () => period(thisWeek()));
  $("last-month").addEventListener("click", () => period(lastMonth()));
  $("start-from-last").addEventListener("click", startFromLast);
  $("new-sitrep").addEventListener("click", () => startNew($("country").value));
  document.addEventListener("ct:languagechange", () => draw(readForm()));
}

async function main() {
  user = await start("sitrep");
  if (user.role !== "field" && user.role !== "admin") {
    status(t("form.not_for_role"), "error");
    $("sitrep").hidden = true;
    loaded();
    return;
  }
  try {
    ref = await loadReference(user);
  } catch (error) {
    status(t("form.reference_failed", { reason: error.message }), "error");
    loaded("error");
    return;
  }
  wire();
  sendNow = runOutbox(user, async (id) => {
    // An answer that arrived by itself (a retry of the outbox) for what the page shows.
    if (id && id === outcomeId && !(record && record.id === id)) {
      const fresh = await store.getRecord(id);
      if (fresh) {
        showOutcome(fresh);
        // The "waiting in the outbox" notice above the form holds no longer once it has an answer.
        if (fresh.state !== "waiting" && fresh.state !== "sending") status("");
      }
    }
  });
  const params = new URLSearchParams(location.search);
  try {
    if (params.get("id")) await openAmendment(Number(params.get("id")));
    else if (params.get("draft")) await openDraft(params.get("draft"));
    else await startNew(ref.countries.length === 1 ? ref.countries[0].code : "");
  } catch (error) {
    status(error.message, "error");
  }
  loaded();
}

main();
