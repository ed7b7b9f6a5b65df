// My sitreps (/dashboard/sitreps): what waits on this device (drafts and the outbox, with
// each record's state and the service's answer), and the sitreps of the user's countries,
// each to amend (on the form, with If-Match) or to withdraw (DELETE with If-Match and a
// reason).

import * as api from "./api.js";
import { $, el, status } from "./dom.js";
import { fmtDate, fmtNumber, t } from "./i18n.js";
import { keepSignedIn, keptSignIn, loaded, runOutbox, start } from "./form-page.js";
import * as outbox from "./outbox.js";
import { describePeriod, outcome, stateBadge } from "./outbox-view.js";
import * as store from "./store.js";

let user;
let cursor = null;

async function drawOutbox() {
  const records = (await store.recordsOf(user.name)).filter((r) => r.form);
  $("outbox-empty").hidden = records.length > 0;
  $("outbox").replaceChildren(
    ...records.map((record) => {
      const actions = [];
      if (outbox.editable(record)) {
        actions.push(el("a", { href: `/dashboard/sitrep?draft=${record.id}`, class: "edit" }, t("mine.edit")));
      }
      if (record.state === "draft" || record.state === "accepted" || (outbox.editable(record) && record.state !== "waiting")) {
        actions.push(
          el("button", { type: "button", class: "secondary", onclick: async () => {
            await store.remove(record.id);
            drawOutbox();
          } }, record.state === "accepted" ? t("mine.forget") : t("mine.discard")),
        );
      }
      const form = record.form;
      const title = record.amend
        ? t("mine.amendment_of", { id: record.amend.sitrep_id })
        : `${form.country || "—"} · ${describePeriod(form)}`;
      return el(
        "li",
        { dataset: { record: record.id, state: record.state } },
        el("div", { class: "head" }, el("strong", {}, title), stateBadge(record),
          el("span", { class: "muted" }, t("mine.lines", { n: fmtNumber(form.lines.length) }))),
        ...outcome(record),
        actions.length ? el("div", { class: "row-actions" }, actions) : null,
      );
    }),
  );
}

function withdrawForm(item, sitrep, holder) {
  const form = el("form", { class: "withdraw-form", novalidate: true });
  const id = `reason-${sitrep.id}`;
  const reason = el("textarea", { id, rows: "2", required: true, "aria-describedby": `${id}-msg` });
  const msg = el("p", { class: "msg", id: `${id}-msg`, hidden: true });
  form.append(
    el("div", { class: "field" }, el("label", { for: id }, t("mine.reason")), reason, msg),
    el("button", { type: "submit", class: "button" }, t("mine.confirm_withdraw", { id: sitrep.id })),
    el("button", { type: "button", class: "secondary", onclick: () => form.remove() }, t("mine.cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!reason.value.trim()) {
      msg.textContent = t("rule.required");
      msg.hidden = false;
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    try {
      await api.request("DELETE", `/sitreps/${sitrep.id}`, {
        json: { reason: reason.value.trim() },
        headers: { "If-Match": holder.etag, "Idempotency-Key": holder.key },
      });
      status(t("mine.withdrawn", { id: sitrep.id }));
      await drawSubmitted(true);
    } catch (error) {
      const detail = error instanceof api.ApiError && error.status === 412
        ? t("mine.withdraw_stale", { id: sitrep.id })
        : (error.problem && error.problem.detail) || error.message;
      msg.textContent = detail;
      msg.hidden = false;
      if (error instanceof api.ApiError && error.status === 412) await drawSubmitted(true);
    }
  });
  item.append(form);
  reason.focus();
}

function submittedItem(sitrep) {
  const actions = [];
  const item = el(
    "li",
    { dataset: { sitrep: sitrep.id, status: sitrep.status } },
    el("div", { class: "head" },
      el("strong", {}, t("mine.sitrep", { id: sitrep.id, country: sitrep.country })),
      el("span", {}, `${fmtDate(sitrep.period_start)} – ${fmtDate(sitrep.period_end)}`),
      el("span", { class: `badge ${sitrep.status === "withdrawn" ? "late" : "ok"}` }, t(`mine.status.${sitrep.status}`)),
      el("span", { class: "muted" }, t("mine.revision", { n: sitrep.revision })),
      el("span", { class: "muted" }, t("mine.lines", { n: fmtNumber(sitrep.lines.length) }))),
    sitrep.status === "withdrawn" && sitrep.withdrawal_reason ? el("p", { class: "muted" }, sitrep.withdrawal_reason) : null,
  );
  if (sitrep.status === "submitted") {
    actions.push(el("a", { href: `/dashboard/sitrep?id=${sitrep.id}`, class: "amend" }, t("mine.amend")));
    actions.push(el("button", { type: "button", class: "secondary withdraw", onclick: async () => {
      if (item.querySelector(".withdraw-form")) return;
      try {
        // Withdraw what the officer sees now: its ETag, read once the form opens.
        const answer = await api.request("GET", `/sitreps/${sitrep.id}`);
        withdrawForm(item, answer.body, { etag: answer.headers.get("ETag"), key: store.newId() });
      } catch (error) {
        status(error.message, "error");
      }
    } }, t("mine.withdraw")));
    item.append(el("div", { class: "row-actions" }, actions));
  }
  return item;
}

async function drawSubmitted(reset) {
  if (reset) {
    cursor = null;
    $("submitted").replaceChildren();
  }
  try {
    const page = await api.get("/sitreps", { limit: 50, cursor });
    $("submitted").append(...page.items.map(submittedItem));
    cursor = page.next_cursor;
    $("more").hidden = !cursor;
    if (!page.items.length && reset) $("submitted").append(el("li", { class: "muted" }, t("mine.none")));
  } catch (error) {
    const offline = !navigator.onLine || error instanceof TypeError;
    status(offline ? t("mine.offline") : error.message, offline ? "" : "error");
  }
}

async function main() {
  user = await start("sitreps");
  const sendNow = runOutbox(user, () => drawOutbox());
  $("send-now").addEventListener("click", async () => {
    await sendNow(true);
    await drawOutbox();
  });
  const keep = $("keep-signed-in");
  keep.checked = Boolean(await keptSignIn());
  keep.addEventListener("change", () => keepSignedIn(keep.checked));
  $("more").addEventListener("click", () => drawSubmitted(false));
  document.addEventListener("ct:languagechange", () => {
    drawOutbox();
    drawSubmitted(true);
  });
  await Promise.all([drawOutbox(), drawSubmitted(true)]);
  loaded();
}

main();
