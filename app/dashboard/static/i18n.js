// The languages of the dashboard and the sitrep form: IOM's official ones. A page registers
// its messages ({en: {...}, fr: {...}, es: {...}}) and reads them with t(key, params).
// The language is the one the user chose (kept in localStorage), else the browser's first
// language we have, else English; numbers and dates follow it through Intl.

export const LANGUAGES = { en: "English", fr: "Français", es: "Español" };
const STORE = "crisis-tracker.lang";
const catalogs = { en: {}, fr: {}, es: {} };

export function register(messages) {
  for (const code of Object.keys(catalogs)) Object.assign(catalogs[code], messages[code] || {});
}

function supported(tag) {
  const code = String(tag || "").toLowerCase().slice(0, 2);
  return Object.hasOwn(catalogs, code) ? code : null;
}

/** The current language code: en, fr or es. */
export function lang() {
  let stored = null;
  try {
    stored = localStorage.getItem(STORE);
  } catch (_) {
    stored = null;
  }
  if (supported(stored)) return supported(stored);
  for (const tag of navigator.languages || [navigator.language]) {
    if (supported(tag)) return supported(tag);
  }
  return "en";
}

/** Chooses a language, remembers it, and tells the page (a "languagechange" event on
 * document) so that it can render again. */
export function setLang(code) {
  if (!supported(code)) return;
  try {
    localStorage.setItem(STORE, code);
  } catch (_) {
    // Storage refused (a private window): the choice holds for this page only.
  }
  document.documentElement.lang = code;
  translatePage();
  document.dispatchEvent(new CustomEvent("ct:languagechange", { detail: { lang: code } }));
}

/** A message in the current language, English when it has none; {name} takes params.name. */
export function t(key, params) {
  const code = lang();
  let text = catalogs[code][key] ?? catalogs.en[key] ?? key;
  for (const [name, value] of Object.entries(params || {})) {
    text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

/** Whether the current language itself has this message (not through English). */
export function has(key) {
  return Object.hasOwn(catalogs[lang()], key);
}

/** The message for a count: key.one, key.other (and any other plural category the language
 * has, as Intl.PluralRules names it), with {n} the count formatted. */
export function tCount(key, count, params) {
  const category = new Intl.PluralRules(locale()).select(count);
  const chosen = has(`${key}.${category}`) || Object.hasOwn(catalogs.en, `${key}.${category}`)
    ? `${key}.${category}`
    : `${key}.other`;
  return t(chosen, { n: fmtNumber(count), ...(params || {}) });
}

const LOCALES = { en: "en-GB", fr: "fr-FR", es: "es-ES" };

export function locale() {
  return LOCALES[lang()];
}

/** A number as the language writes it; `signed`: with its sign, + included (a change). */
export function fmtNumber(n, signed = false) {
  return new Intl.NumberFormat(locale(), signed ? { signDisplay: "exceptZero" } : {}).format(n);
}

export function fmtPercent(ratio, digits = 0, signed = false) {
  return new Intl.NumberFormat(locale(), {
    style: "percent",
    maximumFractionDigits: digits,
    ...(signed ? { signDisplay: "exceptZero" } : {}),
  }).format(ratio);
}

/** An ISO date (2024-03-31) as the language writes it; the date is a calendar day, not an
 * instant, so it is formatted in UTC. */
export function fmtDate(iso, options = { dateStyle: "medium" }) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { ...options, timeZone: "UTC" }).format(
    new Date(`${iso.slice(0, 10)}T00:00:00Z`),
  );
}

/** A month (1 to 12) by its name in the language: "short" (Mar, mars) or "long". */
export function monthName(month, style = "short") {
  return new Intl.DateTimeFormat(locale(), { month: style, timeZone: "UTC" }).format(
    new Date(Date.UTC(2000, month - 1, 1)),
  );
}

/** A list as the language joins it: "A, B and C", « A, B et C ». */
export function fmtList(items) {
  return new Intl.ListFormat(locale(), { style: "long", type: "conjunction" }).format(items);
}

/** The characters the language writes numbers with: {decimal: ".", group: ","}. */
export function separators() {
  const parts = new Intl.NumberFormat(locale()).formatToParts(1234567.5);
  const find = (type, fallback) => (parts.find((p) => p.type === type) || {}).value || fallback;
  return { decimal: find("decimal", "."), group: find("group", ",") };
}

/** Fills every element of the page marked data-i18n="key" with its message, and every
 * data-i18n-attr="attribute:key;attribute:key" attribute likewise. */
export function translatePage(root = document) {
  document.documentElement.lang = lang();
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of node.dataset.i18nAttr.split(";")) {
      const [attribute, key] = pair.split(":");
      if (attribute && key) node.setAttribute(attribute.trim(), t(key.trim()));
    }
  }
}
