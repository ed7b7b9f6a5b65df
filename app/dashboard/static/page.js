// How a dashboard page runs: the top bar, then render(filters, user) with the figures, again
// whenever the filters (a select, Back) or the language change. While it runs the body says
// data-loaded="loading", then "true" or "error": what a test or a screen reader waits for.

import { ApiError } from "./api.js";
import "./dashboard-messages.js";
import { $, el, status } from "./dom.js";
import { lang, t, translatePage } from "./i18n.js";
import { mountTopbar } from "./shell.js";
import { filters, pageHref } from "./url-state.js";

/** What to tell the user about an error, in their language. The API's own detail is shown
 * when it is written in the page's language (Content-Language, English by default). */
export function errorMessage(error, user) {
  if (!(error instanceof ApiError)) {
    return error instanceof TypeError ? t("error.network") : error.message;
  }
  const answered = ((error.headers && error.headers.get("Content-Language")) || "en").slice(0, 2);
  const detail = error.problem && error.problem.detail;
  let message = detail && answered === lang() ? detail : t(`error.http.${error.status}`);
  if (message === `error.http.${error.status}`) message = t("error.http", { status: error.status });
  if (error.status === 403) {
    message += " " + t(user && user.role === "coordinator" ? "error.forbidden.coordinator" : "error.forbidden");
  }
  return message;
}

/** Runs a page: render(filters, user) fills it, and throws to show an error instead. */
export function startPage(name, render) {
  translatePage();
  const signedIn = mountTopbar(name);
  let running = false;
  let again = false;

  async function run() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    document.body.dataset.loaded = "loading";
    status(t("status.loading"));
    let user = null;
    let failure = null;
    try {
      user = await signedIn;
      if (!user) return; // on the way to the sign-in page
      for (const link of document.querySelectorAll("main a[data-nav]")) {
        link.href = pageHref(link.dataset.nav, link.getAttribute("href").split("?")[0]);
      }
      await render(filters(), user);
    } catch (error) {
      failure = error;
    } finally {
      running = false;
    }
    if (again) {
      again = false;
      run();
      return;
    }
    if (!failure) {
      status("");
      document.body.dataset.loaded = "true";
      return;
    }
    document.body.dataset.loaded = "error";
    if (failure instanceof ApiError && failure.status === 401) return;
    status(errorMessage(failure, user), "error");
  }

  document.addEventListener("ct:filterchange", run);
  document.addEventListener("ct:languagechange", run);
  window.addEventListener("popstate", run);
  run();
}
