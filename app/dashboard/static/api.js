// Calls to the JSON API with the signed-in user's token, in the user's language. The token
// lives in sessionStorage (this tab only, forgotten when it closes), under the same keys the
// dashboard has always used.

import { lang } from "./i18n.js";
import { forgetDevice } from "./store.js";

export const API = "/api/v1";
const TOKEN = "crisis-tracker.token";
const ME = "crisis-tracker.me";
const REFERENCE = "crisis-tracker.reference";

/** An answer that is not 2xx: its status and its problem+json body (or null). */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super((problem && problem.detail) || `The service answered ${status}.`);
    this.status = status;
    this.problem = problem;
    this.headers = headers;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function signIn(value, me) {
  sessionStorage.setItem(TOKEN, value);
  sessionStorage.setItem(ME, JSON.stringify(me));
}

/** Forgets the token of this tab, and what the device kept for the user ("keep me signed
 * in", the service worker's copies of their data), so that a shared device keeps nothing. */
export async function signOut() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(ME);
  sessionStorage.removeItem(REFERENCE);
  try {
    await forgetDevice();
  } catch (_) {
    // no IndexedDB or Cache Storage here (a private window): nothing was kept
  }
}

export function goToSignIn() {
  const next = location.pathname + location.search;
  location.assign(`/dashboard/sign-in?next=${encodeURIComponent(next)}`);
}

export function url(path, params) {
  const target = new URL(API + path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, value);
  }
  return target;
}

/**
 * request("POST", "/sitreps", {json: {...}, headers: {"Idempotency-Key": k}}) resolves to
 * {status, body, headers} for a 2xx answer and throws ApiError otherwise; a network failure
 * throws the fetch TypeError as it is (the caller decides whether to retry). `body` (a
 * FormData or Blob) is sent as it is; `bearer` overrides the stored token; a 401 with the
 * stored token signs out and goes to the sign-in page unless `stayOn401` is set. With
 * `file` set, a 2xx answer's body is a Blob (a file to save), not JSON.
 */
export async function request(method, path, options = {}) {
  const { params, json, body, headers, bearer, signal, stayOn401, file } = options;
  const sent = {
    Authorization: `Bearer ${bearer || token()}`,
    ...(file ? {} : { Accept: "application/json" }),
    "Accept-Language": lang(),
    ...(headers || {}),
  };
  let payload = body;
  if (json !== undefined) {
    sent["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  }
  const response = await fetch(url(path, params), { method, headers: sent, body: payload, signal });
  if (file && response.ok) return { status: response.status, body: await response.blob(), headers: response.headers };
  let answer = null;
  if (response.status !== 204) {
    try {
      answer = await response.json();
    } catch (_) {
      answer = null;
    }
  }
  if (response.status === 401 && !bearer && !stayOn401) {
    await signOut();
    goToSignIn();
  }
  if (!response.ok) throw new ApiError(response.status, answer, response.headers);
  return { status: response.status, body: answer, headers: response.headers };
}

/**
 * GET path?params as a file the browser saves (an export: the service names it in
 * Content-Disposition), with the stored token; throws ApiError as `request` does.
 */
export async function download(path, params) {
  const { body, headers } = await request("GET", path, { params, file: true });
  const named = /filename="([^"]+)"/.exec(headers.get("Content-Disposition") || "");
  const href = URL.createObjectURL(body);
  const link = document.createElement("a");
  link.href = href;
  link.download = named ? named[1] : path.split("/").pop();
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** GET path?params, resolving to the JSON body. */
export async function get(path, params, bearer) {
  return (await request("GET", path, { params, bearer })).body;
}

/** The signed-in user (GET /me, kept for the tab). */
export async function me() {
  const cached = sessionStorage.getItem(ME);
  if (cached) return JSON.parse(cached);
  const user = await get("/me");
  sessionStorage.setItem(ME, JSON.stringify(user));
  return user;
}
