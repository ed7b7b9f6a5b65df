// What every dashboard page shares: the token, calls to the JSON API, the filters in the
// URL, the navigation, numbers and charts. Pages register with CT.start(render).
"use strict";

(function () {
  const TOKEN = "crisis-tracker.token";
  const ME = "crisis-tracker.me";
  const REFERENCE = "crisis-tracker.reference";
  const API = "/api/v1";
  const FILTERS = ["country", "year", "crisis_id", "sector", "division", "phase"];
  // What each page keeps of the filters when the navigation leads to it.
  const NAV_KEEPS = {
    overview: ["year", "crisis_id", "sector", "division", "phase"],
    country: ["country", "year", "crisis_id", "sector", "division", "phase"],
    completeness: ["year", "crisis_id"],
  };
  const EXPLAIN_UNIQUE =
    "unique = estimate of people reached by at least one sector, taking the largest sector " +
    "in each place; by-sector sum counts a person once per sector that helped them";
  const FONT =
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", ' +
    '"Liberation Sans", sans-serif';
  const COLORS = { unique: "#0033a0", sum: "#5b92e5" };
  const SECTOR_COLORS = {
    shelter: "#0033a0",
    wash: "#2a9fd6",
    cccm: "#f4a11d",
    cash: "#3a9b54",
    health: "#c8102e",
  };
  // Names short enough for a chart's axis on a phone; the full names are in the tables.
  const SHORT = {
    shelter: "Shelter",
    wash: "WASH",
    cccm: "CCCM",
    cash: "Cash",
    health: "Health",
    pcca: "Preparedness & Climate",
    prd: "Peace & Recovery",
    hod: "Humanitarian Ops",
    preparedness: "Preparedness",
    response: "Response",
    recovery: "Recovery",
  };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.detail) || `The service answered ${status}.`);
      this.status = status;
      this.problem = problem;
    }
  }

  // --- DOM ------------------------------------------------------------------------------

  /** el("td", {class: "num", dataset: {value: 3}}, "3"): text children are never parsed
   * as HTML, so nothing the API returns can inject markup. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function $(id) {
    return document.getElementById(id);
  }

  /** Replaces the children of an element (or of the element with this id). */
  function fill(target, ...children) {
    const node = typeof target === "string" ? $(target) : target;
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
    return node;
  }

  const numberFormat = new Intl.NumberFormat("en-US");
  function fmt(n) {
    return numberFormat.format(n);
  }

  function fmtDate(iso) {
    if (!iso) return "";
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    return `${d} ${MONTHS[m - 1]} ${y}`;
  }

  /** A figure as the pages show it: formatted text, the raw number in data-value. */
  function figure(tag, value, attrs) {
    return el(tag, { ...(attrs || {}), dataset: { ...((attrs || {}).dataset || {}), value } }, fmt(value));
  }

  let tips = 0;
  /** A "?" button that shows the difference between the two ways of counting people. */
  function explainUnique() {
    const id = `tip-${++tips}`;
    return el(
      "span",
      { class: "info" },
      el("button", {
        type: "button",
        class: "info-button",
        "aria-label": "What is the difference between unique and by-sector sum?",
        "aria-describedby": id,
      }, "?"),
      el("span", { class: "tip", role: "tooltip", id }, EXPLAIN_UNIQUE),
    );
  }

  /** The two cards every page opens with: the year's unique estimate and by-sector sum. */
  function reachedKpis(year, now) {
    return [
      el(
        "div",
        { class: "kpi" },
        el("span", { class: "label" }, `People reached in ${year} (unique estimate)`, explainUnique()),
        figure("strong", now.people_reached_unique, { class: "value", id: "kpi-unique" }),
      ),
      el(
        "div",
        { class: "kpi" },
        el("span", { class: "label", title: EXPLAIN_UNIQUE }, `People reached in ${year} (by-sector sum)`),
        figure("strong", now.people_reached, { class: "value", id: "kpi-sum" }),
      ),
    ];
  }

  /** Unique estimate and by-sector sum side by side for each year of ``perYear``. */
  function yearsChart(id, perYear) {
    const ys = [...perYear.keys()].sort();
    chart(id, [
      bar("Unique (estimate)", ys.map(String), ys.map((y) => perYear.get(y).people_reached_unique), COLORS.unique),
      bar("By-sector sum", ys.map(String), ys.map((y) => perYear.get(y).people_reached), COLORS.sum),
    ], { barmode: "group" });
    return ys;
  }

  function status(message, kind) {
    const node = $("status");
    if (!node) return;
    node.replaceChildren(message ? el("div", { class: `notice ${kind || ""}` }, message) : "");
  }

  // --- the API --------------------------------------------------------------------------

  function token() {
    return sessionStorage.getItem(TOKEN);
  }

  function signIn(value, me) {
    sessionStorage.setItem(TOKEN, value);
    sessionStorage.setItem(ME, JSON.stringify(me));
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(ME);
    sessionStorage.removeItem(REFERENCE);
  }

  function goToSignIn() {
    const next = location.pathname + location.search;
    location.assign(`/dashboard/sign-in?next=${encodeURIComponent(next)}`);
  }

  async function api(path, params, bearer) {
    const url = new URL(API + path, location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${bearer || token()}`, Accept: "application/json" },
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (response.status === 401 && !bearer) {
      signOut();
      goToSignIn();
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  async function me() {
    const cached = sessionStorage.getItem(ME);
    if (cached) return JSON.parse(cached);
    const user = await api("/me");
    sessionStorage.setItem(ME, JSON.stringify(user));
    return user;
  }

  /** Codes and names of sectors, divisions, phases and countries, once per session. */
  async function reference() {
    const cached = sessionStorage.getItem(REFERENCE);
    if (cached) return JSON.parse(cached);
    const [sectors, divisions, phases, countries] = await Promise.all(
      ["/sectors", "/divisions", "/phases", "/countries"].map((path) => api(path)),
    );
    const names = (items) => Object.fromEntries(items.map((i) => [i.code, i.name]));
    const ref = {
      sectors: names(sectors),
      divisions: names(divisions),
      phases: names(phases),
      countries: names(countries),
    };
    sessionStorage.setItem(REFERENCE, JSON.stringify(ref));
    return ref;
  }

  /** Crises a user may pick: all of them, or those in a field officer's countries. */
  async function crises(user) {
    const params = { limit: 1000 };
    if (user.role === "field") params.country = user.countries.join(",");
    return (await api("/crises", params)).items;
  }

  // --- filters in the URL ---------------------------------------------------------------

  function filters() {
    const query = new URLSearchParams(location.search);
    const result = {};
    for (const name of FILTERS) {
      const value = query.get(name);
      if (value) result[name] = value;
    }
    return result;
  }

  function query(values, keep) {
    const params = new URLSearchParams();
    for (const name of keep || FILTERS) if (values[name]) params.set(name, values[name]);
    const text = params.toString();
    return text ? `?${text}` : "";
  }

  /** Changes one filter: the URL (so the view can be shared), the links, the numbers. */
  function setFilter(name, value) {
    const values = filters();
    if (value) values[name] = value;
    else delete values[name];
    history.pushState(null, "", location.pathname + query(values));
    run();
  }

  /** A filter bar: fields are {name, label, options: [[value, text]], any: "All ..."}. */
  function filterBar(fields) {
    const current = filters();
    const focused = document.activeElement && document.activeElement.name;
    const form = fill(
      "filters",
      fields.map((field) =>
        el(
          "label",
          {},
          field.label,
          el(
            "select",
            {
              name: field.name,
              id: `filter-${field.name}`,
              onchange: (event) => setFilter(field.name, event.target.value),
            },
            field.any ? el("option", { value: "" }, field.any) : null,
            field.options.map(([value, text]) =>
              el("option", { value, selected: String(value) === String(field.value ?? current[field.name] ?? "") }, text),
            ),
          ),
        ),
      ),
      Object.keys(current).some((k) => k !== "country")
        ? el("a", { class: "reset", href: location.pathname + query(current, ["country"]) }, "Clear filters")
        : null,
    );
    form.onsubmit = (event) => event.preventDefault();
    if (focused && form.elements[focused]) form.elements[focused].focus();
  }

  function codeOptions(names) {
    return Object.entries(names).map(([code, name]) => [code, name]);
  }

  function yearOptions(years) {
    return years.map((y) => [String(y), String(y)]);
  }

  function crisisOptions(list) {
    return list.map((c) => [String(c.id), c.name]);
  }

  function navigation(user) {
    const values = filters();
    for (const link of document.querySelectorAll("[data-nav]")) {
      const page = link.dataset.nav;
      const base = link.getAttribute("href").split("?")[0];
      link.setAttribute("href", base + query(values, NAV_KEEPS[page]));
      if (page === document.body.dataset.page) link.setAttribute("aria-current", "page");
    }
    const scope = user.countries && user.countries.length ? ` · ${user.countries.join(", ")}` : "";
    fill("who", `${user.name} (${user.role}${scope})`);
  }

  function countryLink(code, names, extra) {
    const values = { ...filters(), country: code, ...(extra || {}) };
    return el(
      "a",
      { href: `/dashboard/country${query(values, NAV_KEEPS.country)}`, dataset: { country: code } },
      names[code] || code,
    );
  }

  // --- numbers over countries -----------------------------------------------------------

  /** Totals rows of several countries added up per key. Every figure adds up across
   * countries: a place belongs to one country, so the unique estimates do too. */
  function sumBy(rows, key) {
    const sums = new Map();
    for (const row of rows) {
      const k = key(row);
      const s = sums.get(k) || { people_reached: 0, people_reached_unique: 0, people_reached_in_periods: 0, people_targeted: 0, lines: 0 };
      for (const f of Object.keys(s)) s[f] += row[f];
      sums.set(k, s);
    }
    return sums;
  }

  // --- charts ---------------------------------------------------------------------------

  function chart(id, traces, layout) {
    const node = $(id);
    if (!window.Plotly) {
      node.replaceChildren(el("p", { class: "muted" }, "Charts could not load; the tables hold the same numbers."));
      return;
    }
    window.Plotly.react(
      node,
      traces,
      {
        font: { family: FONT, size: 12, color: "#1d2330" },
        margin: { l: 60, r: 10, t: 10, b: 40 },
        height: 280,
        paper_bgcolor: "rgba(0,0,0,0)",
        plot_bgcolor: "rgba(0,0,0,0)",
        legend: { orientation: "h", y: -0.2 },
        separators: ".,",
        yaxis: { tickformat: ",d", automargin: true, gridcolor: "#e5e9f0" },
        xaxis: { type: "category", automargin: true },
        ...(layout || {}),
      },
      { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] },
    );
  }

  /** Horizontal bars, one row per label (first at the top): labels stay readable. */
  function hbar(id, labels, series) {
    const rows = labels.length * Math.max(1, series.length);
    chart(
      id,
      series.map(([name, values, color]) => ({
        type: "bar",
        orientation: "h",
        name,
        y: labels,
        x: values,
        marker: { color },
        hovertemplate: `%{y}: %{x:,}<extra>${name}</extra>`,
      })),
      {
        barmode: "group",
        height: Math.max(180, 70 + rows * 24),
        margin: { l: 10, r: 10, t: 10, b: 30 },
        showlegend: series.length > 1,
        legend: { orientation: "h", y: -0.12 },
        xaxis: { tickformat: ",d", automargin: true, gridcolor: "#e5e9f0" },
        yaxis: { type: "category", autorange: "reversed", automargin: true },
      },
    );
  }

  function bar(name, x, y, color, extra) {
    return {
      type: "bar",
      name,
      x,
      y,
      marker: { color },
      hovertemplate: `%{x}: %{y:,}<extra>${name}</extra>`,
      ...(extra || {}),
    };
  }

  // --- start ----------------------------------------------------------------------------

  let page = null;

  async function run() {
    // "loading", then "true" or "error": what a test (or a screen reader) can wait for.
    document.body.dataset.loaded = "loading";
    status("Loading…");
    try {
      const user = await me();
      navigation(user);
      await page(filters(), user);
      status("");
      document.body.dataset.loaded = "true";
    } catch (error) {
      document.body.dataset.loaded = "error";
      if (error instanceof ApiError && error.status === 401) return;
      let message = error.message;
      if (error instanceof ApiError && error.status === 403) {
        const user = JSON.parse(sessionStorage.getItem(ME) || "{}");
        message +=
          user.role === "coordinator"
            ? " Coordinators pull their clusters' feeds (GET /api/v1/clusters/{cluster}/feed); " +
              "the dashboard's figures are for headquarters and field officers."
            : " The dashboard shows what your role and countries allow.";
      }
      status(message, "error");
    }
  }

  function start(render) {
    page = render;
    document.addEventListener("DOMContentLoaded", () => {
      if (!token()) {
        goToSignIn();
        return;
      }
      $("sign-out").addEventListener("click", () => {
        signOut();
        location.assign("/dashboard/sign-in");
      });
      window.addEventListener("popstate", run);
      run();
    });
  }

  window.CT = {
    ApiError,
    COLORS,
    EXPLAIN_UNIQUE,
    MONTHS,
    SECTOR_COLORS,
    SHORT,
    api,
    bar,
    chart,
    codeOptions,
    countryLink,
    crises,
    crisisOptions,
    el,
    explainUnique,
    figure,
    fill,
    filterBar,
    filters,
    fmt,
    hbar,
    fmtDate,
    me,
    query,
    reachedKpis,
    reference,
    setFilter,
    signIn,
    signOut,
    start,
    status,
    sumBy,
    token,
    yearOptions,
    yearsChart,
  };
})();
