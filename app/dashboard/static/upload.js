// Upload a 5W sheet (/dashboard/upload): POST /imports as multipart/form-data with
// dry_run=true first, the report as tables (spreadsheet rows, column, reason; counts),
// then the same file and options for real. The real import's Idempotency-Key is made with
// the check, so a retried import answers as the first did instead of importing twice.

import * as api from "./api.js";
import { $, el, status } from "./dom.js";
import { fmtDate, fmtNumber, has, t } from "./i18n.js";
import { loaded, start } from "./form-page.js";
import { loadReference } from "./form-reference.js";
import * as store from "./store.js";

let checked = null; // {file, params, key} of the last dry run that can be imported

function named(key, fallback) {
  return has(key) ? t(key) : fallback;
}

function params() {
  return {
    division: $("division").value,
    phase: $("phase").value,
    figures: $("figures").value,
    mode: $("mode").value,
  };
}

async function send(file, options, { dryRun, key }) {
  const form = new FormData();
  form.append("file", file, file.name);
  const headers = key ? { "Idempotency-Key": key } : {};
  return (await api.request("POST", "/imports", { params: { ...options, dry_run: dryRun ? "true" : "" }, body: form, headers })).body;
}

function count(label, value) {
  return el("div", { dataset: { count: label } }, el("strong", {}, fmtNumber(value)), " ", t(`upload.count.${label}`));
}

function table(node, head, rows) {
  node.replaceChildren(
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
  );
}

function showReport(report) {
  $("report").hidden = false;
  $("report-title").textContent = report.dry_run ? t("upload.report_dry") : t("upload.report_done");
  $("counts").replaceChildren(
    count("rows", report.rows),
    count("sitreps", report.sitreps),
    count(report.dry_run ? "valid" : "created", report.dry_run ? report.accepted : report.created),
    count("amended", report.amended),
    count("unchanged", report.unchanged),
    count("refused", report.refused),
    count("skipped", report.rows_skipped),
  );
  const problems = report.problems.map((p) => [p.row === null ? "—" : String(p.row), p.column || "—", p.reason]);
  table($("problems"), [t("upload.row"), t("upload.column"), t("upload.reason")],
    problems.length ? problems : [["", "", t("upload.no_problems")]]);
  table($("sitreps"), [t("upload.rows"), t("upload.country"), t("upload.period"), t("upload.lines"), t("upload.outcome")],
    report.results.map((s) => [
      s.rows.length > 1 ? `${s.rows[0]}–${s.rows[s.rows.length - 1]}` : String(s.rows[0] ?? "—"),
      s.country,
      `${fmtDate(s.period_start)} – ${fmtDate(s.period_end)}`,
      fmtNumber(s.lines.length),
      s.sitrep_id && !report.dry_run
        ? el("a", { href: `/dashboard/sitrep?id=${s.sitrep_id}` }, t(`upload.outcome.${s.outcome}`, { id: s.sitrep_id }))
        : t(`upload.outcome.${s.outcome}`, { id: s.sitrep_id ?? "" }),
    ]));
}

function failed(error) {
  const problem = error instanceof api.ApiError ? error.problem : null;
  const errors = (problem && problem.errors) || [];
  const text = errors.length ? errors.map((e) => e.msg).join(" ") : (problem && problem.detail) || error.message;
  const offline = !(error instanceof api.ApiError);
  status(offline ? t("upload.offline") : text, "error");
}

async function check(event) {
  event.preventDefault();
  const file = $("file").files[0];
  const msg = $("file-msg");
  msg.hidden = Boolean(file);
  msg.textContent = file ? "" : t("upload.choose_file");
  if (!file) {
    $("file").setAttribute("aria-invalid", "true");
    $("file").focus();
    return;
  }
  $("file").removeAttribute("aria-invalid");
  checked = null;
  $("import").disabled = true;
  status(t("upload.checking"));
  try {
    const options = params();
    const report = await send(file, options, { dryRun: true });
    showReport(report);
    checked = report.accepted > 0 ? { file, options, key: store.newId() } : null;
    $("import").disabled = !checked;
    status(report.refused ? t("upload.checked_refused", { n: fmtNumber(report.refused) }) : t("upload.checked_ok"));
  } catch (error) {
    failed(error);
  }
}

async function importForReal() {
  if (!checked) return;
  $("import").disabled = true;
  status(t("upload.importing"));
  try {
    const report = await send(checked.file, checked.options, { dryRun: false, key: checked.key });
    showReport(report);
    status(t("upload.imported", { n: fmtNumber(report.created + report.amended) }));
    checked = null;
  } catch (error) {
    failed(error);
    $("import").disabled = false;
  }
}

async function main() {
  const user = await start("upload");
  const ref = await loadReference(user);
  const choices = (list, prefix) => [
    el("option", { value: "" }, t("upload.from_sheet")),
    ...list.map((item) => el("option", { value: item.code }, named(`${prefix}.${item.code}`, item.name))),
  ];
  $("division").replaceChildren(...choices(ref.divisions, "division"));
  $("phase").replaceChildren(...choices(ref.phases, "phase"));
  $("upload").addEventListener("submit", check);
  $("import").addEventListener("click", importForReal);
  // Another file or other options: check again before importing.
  $("upload").addEventListener("change", () => {
    checked = null;
    $("import").disabled = true;
  });
  loaded();
}

main();
