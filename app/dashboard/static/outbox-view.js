// How a record of the outbox is shown: its state, and what the service said about it.

import { fmtDate, fmtNumber, t } from "./i18n.js";
import { el } from "./dom.js";

/** The sitrep a 409 names as holding the slot, if any. */
export function holdingSitrep(problem) {
  if (!problem) return null;
  if (Number.isInteger(problem.conflicting_sitrep_id)) return problem.conflicting_sitrep_id;
  const named = /sitrep (\d+)/i.exec(problem.detail || "");
  return named ? Number(named[1]) : null;
}

export function stateBadge(record) {
  const kind = { accepted: "ok", refused: "late", conflict: "late", stale: "late" }[record.state] || "";
  return el("span", { class: `badge ${kind}`, dataset: { state: record.state } }, t(`state.${record.state}`));
}

export function describePeriod(form) {
  if (!form || !form.period_start) return t("outbox.no_period");
  return `${fmtDate(form.period_start)} – ${fmtDate(form.period_end || form.period_start)}`;
}

/** What the service answered (or what is pending), as nodes for a record. */
export function outcome(record) {
  const nodes = [];
  if (record.state === "accepted" && record.result) {
    const id = record.result.id;
    nodes.push(
      el(
        "p",
        { class: "accepted" },
        t(record.amend ? "outbox.amended" : "outbox.accepted", { id, revision: record.result.revision }),
        " ",
        el("a", { href: `/dashboard/sitrep?id=${id}`, class: "sitrep-link" }, t("outbox.open", { id })),
      ),
    );
  } else if (record.state === "waiting" || record.state === "sending") {
    const when = record.nextAt && record.nextAt > Date.now()
      ? t("outbox.retry_at", { time: new Date(record.nextAt).toLocaleTimeString() })
      : t("outbox.soon");
    nodes.push(el("p", {}, record.state === "sending" ? t("outbox.sending") : when));
    if (record.attempts) nodes.push(el("p", { class: "muted" }, t("outbox.attempts", { n: fmtNumber(record.attempts) })));
  } else if (record.state === "conflict") {
    const holder = holdingSitrep(record.problem);
    nodes.push(el("p", { class: "problem-detail" }, record.problem.detail || ""));
    if (holder) {
      nodes.push(
        el("p", {}, el("a", { href: `/dashboard/sitrep?id=${holder}`, class: "amend-instead", dataset: { sitrep: holder } },
          t("outbox.amend_instead", { id: holder }))),
      );
    }
  } else if (record.state === "refused" || record.state === "stale") {
    nodes.push(el("p", { class: "problem-detail" }, (record.problem && record.problem.detail) || t("outbox.refused")));
    const errors = (record.problem && record.problem.errors) || [];
    if (errors.length) {
      nodes.push(el("ul", { class: "problems" }, errors.map((e) => el("li", {}, `${e.loc.slice(1).join(" › ")}: ${e.msg}`))));
    }
  }
  return nodes;
}
