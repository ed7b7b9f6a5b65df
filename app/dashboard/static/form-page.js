// What the sitrep form's pages (new sitrep, my sitreps, upload) share: the signed-in user,
// the top bar, the service worker that keeps them usable offline, and the outbox sending
// by itself.

import * as api from "./api.js";
import { lang, translatePage } from "./i18n.js";
import * as outbox from "./outbox.js";
import { adminAreas, crisesOf, loadReference } from "./form-reference.js";
import { mountTopbar } from "./shell.js";
import * as store from "./store.js";
import "./form-messages.js";

const WARMED = "crisis-tracker.offline-copy";

/** The token kept on this device, if the user chose "keep me signed in": {token, me}. */
export async function keptSignIn() {
  try {
    return await store.deviceGet(store.KEPT_TOKEN);
  } catch (_) {
    return null;
  }
}

export async function keepSignedIn(keep) {
  if (keep) await store.deviceSet(store.KEPT_TOKEN, { token: api.token(), me: await api.me(), lang: lang() });
  else await store.deviceSet(store.KEPT_TOKEN, null);
}

/** Fetches, through the service worker, the reference data of the user's countries, so
 * that the worker keeps a copy of it for offline use. */
async function warmOfflineCopy(user) {
  const reference = await loadReference(user);
  const own = user.role === "admin" ? [] : reference.countries.map((c) => c.code);
  await Promise.all(own.flatMap((code) => [adminAreas(code), crisesOf(code)]));
}

async function registerWorker(signedIn) {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("/dashboard/sw.js", { scope: "/dashboard/", type: "module" });
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
    }
    // Once per tab: the lists of every country of the user, not only those opened so far.
    const user = await signedIn;
    if (user && navigator.onLine && !sessionStorage.getItem(WARMED)) {
      await warmOfflineCopy(user);
      sessionStorage.setItem(WARMED, "true");
    }
    document.body.dataset.offline = "ready";
  } catch (error) {
    console.warn("no offline copy:", error);
    document.body.dataset.offline = "unavailable";
  }
}

/**
 * Starts a page of the form: signs in from the tab's token (or the device's kept one),
 * draws the top bar, translates, and starts the outbox. Resolves to the user, or never
 * (going to the sign-in page) without a token.
 */
let signedIn;
const user = new Promise((resolve) => (signedIn = resolve));

/** Marks the page usable (body[data-loaded]); then, so as not to compete with the page for
 * a slow connection, installs or updates the service worker. */
export function loaded(state = "true") {
  document.body.dataset.loaded = state;
  registerWorker(user).catch(() => {});
}

export async function start(page) {
  if (!api.token()) {
    const kept = await keptSignIn();
    if (kept) api.signIn(kept.token, kept.me);
  }
  let user;
  try {
    user = await mountTopbar(page);
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) user = null;
    else throw error;
  }
  // No token, or a revoked one: the browser is on its way to the sign-in page.
  if (!user) return new Promise(() => {});
  signedIn(user);
  translatePage();
  document.addEventListener("ct:languagechange", () => translatePage());
  return user;
}

/**
 * Sends the user's outbox now and whenever it is due: at once, on the "online" event, at
 * the next retry time, and when asked (the returned function; "Send now"). `changed` is
 * called after every change of a record, from this tab or another.
 */
export function runOutbox(user, changed) {
  let timer = null;
  let running = null;
  async function go(now = false) {
    if (running) return running;
    running = (async () => {
      clearTimeout(timer);
      const token = api.token();
      if (!token) return;
      try {
        const result = await outbox.flush({ owner: user.name, token, lang: lang(), now });
        if (result.nextAt !== null) {
          timer = setTimeout(() => go(), Math.max(0, result.nextAt - Date.now()) + 50);
        }
        if (result.waiting && "serviceWorker" in navigator) {
          const kept = await keptSignIn();
          const registration = kept && (await navigator.serviceWorker.ready);
          if (registration && registration.sync) registration.sync.register("outbox").catch(() => {});
        }
      } finally {
        running = null;
      }
    })();
    return running;
  }
  window.addEventListener("online", () => go(true));
  try {
    const channel = new BroadcastChannel(outbox.CHANNEL);
    channel.onmessage = (event) => changed(event.data && event.data.id);
  } catch (_) {
    // only this tab's changes are seen
  }
  go();
  return go;
}
