// Checks the token against /api/v1/me, keeps it for this tab, and goes where the user was.

import { get, signIn } from "./api.js";
import { t, translatePage } from "./i18n.js";
import { $, status } from "./dom.js";
import { errorMessage } from "./page.js";
import { mountTopbar } from "./shell.js";

translatePage();
mountTopbar("sign-in");

// What the status line says, as a function, so that a language switch says it again.
let said = { message: () => "", kind: "" };
function say(message, kind) {
  said = { message, kind };
  status(message(), kind);
}
document.addEventListener("ct:languagechange", () => status(said.message(), said.kind));

const form = $("sign-in");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = form.elements.token.value.trim();
  if (!value) return;
  say(() => t("signIn.checking"));
  try {
    const user = await get("/me", {}, value);
    signIn(value, user);
    const next = new URLSearchParams(location.search).get("next") || "";
    // Only a dashboard page of this site: never an open redirect.
    const safe = /^\/dashboard\/[^/\\]*(\?.*)?$/.test(next) && !next.startsWith("/dashboard/sign-in");
    location.assign(safe ? next : "/dashboard/");
  } catch (error) {
    say(() => (error.status === 401 ? t("signIn.invalid") : errorMessage(error)), "error");
  }
});
