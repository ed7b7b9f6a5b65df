// The top bar of every dashboard and form page: the brand, the pages the user's role may
// open, the language, who is signed in and sign-out. A page calls mountTopbar("overview")
// once; the bar renders again by itself when the language or the filters change.

import { goToSignIn, me, signOut, token } from "./api.js";
import "./dashboard-messages.js";
import { el } from "./dom.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";
import { pageHref } from "./url-state.js";

// Every page of the navigation, in its order, and the roles that see it.
const READERS = ["admin", "hq", "field", "coordinator"];
const REPORTERS = ["admin", "field"];
const PAGES = [
  { page: "overview", path: "/dashboard/", roles: READERS },
  { page: "country", path: "/dashboard/country", roles: READERS },
  { page: "completeness", path: "/dashboard/completeness", roles: READERS },
  { page: "sitrep", path: "/dashboard/sitrep", roles: REPORTERS },
  { page: "sitreps", path: "/dashboard/sitreps", roles: REPORTERS },
  { page: "upload", path: "/dashboard/upload", roles: REPORTERS },
];

/** The pages a user of this role may open: [{page, path}]. */
export function pagesFor(user) {
  return PAGES.filter((p) => user && p.roles.includes(user.role));
}

function languageSelect() {
  const current = lang();
  return el(
    "label",
    { class: "language" },
    el("span", { class: "visually-hidden" }, t("shell.language")),
    el(
      "select",
      { id: "language", name: "language", onchange: (event) => setLang(event.target.value) },
      Object.entries(LANGUAGES).map(([code, name]) =>
        el("option", { value: code, lang: code, selected: code === current }, name),
      ),
    ),
  );
}

function who(user) {
  const scope = user.countries && user.countries.length ? ` · ${user.countries.join(", ")}` : "";
  return `${user.name} (${t(`shell.role.${user.role}`)}${scope})`;
}

function render(header, page, user) {
  // Rebuilt whole on each change; the control that had the focus gets it back.
  const focused = header.contains(document.activeElement) ? document.activeElement.id : null;
  header.replaceChildren(
    el("a", { class: "brand", href: "/dashboard/" }, "crisis-tracker"),
    user
      ? el(
          "nav",
          { "aria-label": t("shell.nav") },
          pagesFor(user).map((p) =>
            el(
              "a",
              {
                id: `nav-${p.page}`,
                href: pageHref(p.page, p.path),
                dataset: { nav: p.page },
                "aria-current": p.page === page ? "page" : null,
              },
              t(`shell.page.${p.page}`),
            ),
          ),
        )
      : null,
    el(
      "div",
      { class: "who" },
      user ? el("span", { id: "who" }, who(user)) : null,
      languageSelect(),
      user
        ? el(
            "button",
            {
              type: "button",
              id: "sign-out",
              onclick: async () => {
                await signOut();
                location.assign("/dashboard/sign-in");
              },
            },
            t("shell.signOut"),
          )
        : null,
    ),
  );
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
}

/**
 * Fills <header class="topbar"> for the page named (overview, country, completeness,
 * sitrep, sitreps, upload, sign-in) and resolves to the signed-in user. Without a token it
 * sends the user to sign in (resolving to null), except on the sign-in page, which gets the
 * brand and the language only. If /me fails, the bar keeps brand and language and the
 * error is thrown for the page to show.
 */
export async function mountTopbar(page) {
  const header = document.querySelector("header.topbar");
  let user = null;
  const again = () => render(header, page, user);
  document.addEventListener("ct:languagechange", again);
  document.addEventListener("ct:filterchange", again);
  window.addEventListener("popstate", again);
  again();
  if (page === "sign-in") return null;
  if (!token()) {
    goToSignIn();
    return null;
  }
  user = await me();
  again();
  return user;
}
