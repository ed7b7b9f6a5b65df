// Building the page from data: elements whose text children are never parsed as HTML, so
// nothing the API returns can inject markup.

import { fmtNumber } from "./i18n.js";

/** el("td", {class: "num", dataset: {value: 3}}, "3"); attributes named on* add listeners. */
export function el(tag, attrs, ...children) {
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

export function $(id) {
  return document.getElementById(id);
}

/** Replaces the children of an element (or of the element with this id). */
export function fill(target, ...children) {
  const node = typeof target === "string" ? $(target) : target;
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** A figure as the pages show it: formatted for the language, the raw number in data-value. */
export function figure(tag, value, attrs) {
  const given = attrs || {};
  return el(tag, { ...given, dataset: { ...(given.dataset || {}), value } }, fmtNumber(value));
}

/** Shows a message in the page's status line (the #status element, role=status), or clears
 * it; `kind` ("error", ...) styles the notice. */
export function status(message, kind = "") {
  const node = $("status");
  if (node) node.replaceChildren(message ? el("div", { class: `notice ${kind}` }, message) : "");
}
