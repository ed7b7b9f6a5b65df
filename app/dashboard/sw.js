// The sitrep form's service worker, scope /dashboard/. The server puts SHELL above this
// line: {version, files: {url: etag}}, the offline pages and every file they load.
//
// - The shell is kept in a cache named by its version (a hash of the files' ETags): a
//   release that changes any file changes this script, the browser installs the new worker,
//   which fetches the new shell and drops the old one. Shell files are answered from the
//   cache first, so the form opens with no connection at all.
// - The reference data a form needs (who the user is, sectors, divisions, phases, countries,
//   admin areas, crises, the user's sitreps) is fetched from the network first and kept; with
//   no connection, or none within a few seconds, the kept copy answers. Copies are kept per
//   API token (by its SHA-256), so that one user of a shared device never reads another's.
// - Nothing else is touched: writes, and every other page, go to the network as they are.
// - For a user who chose "keep me signed in on this device", the outbox is also sent from
//   here (Background Sync), after every tab of the dashboard is closed.
/* global SHELL */

import { flush } from "./static/outbox.js";
import { DATA_CACHE, KEPT_TOKEN, deviceGet, forgetDevice } from "./static/store.js";

const SHELL_CACHE = `ct-shell-${SHELL.version}`;
const NETWORK_WAIT_MS = 6000;
const SHELL_PATHS = new Set(Object.keys(SHELL.files));
const DATA = /^\/api\/v1\/(me|sectors|divisions|phases|countries|countries\/[A-Z]{3}\/admin-areas|crises|sitreps)$/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // cache: "reload": the files of this release, never a copy the HTTP cache still holds.
      await cache.addAll(Object.keys(SHELL.files).map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("ct-shell-") && name !== SHELL_CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

// Signing out forgets what this device kept for the user (api.signOut does it in the page;
// this catches a sign-out page opened by hand: every top bar goes to /dashboard/sign-in with
// no ?next=, a page that merely needs a sign-in adds ?next=).

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/dashboard/sign-in" && !url.searchParams.has("next")) {
    event.waitUntil(forgetDevice());
  }
  if (SHELL_PATHS.has(url.pathname)) {
    event.respondWith(fromShell(request, url));
  } else if (DATA.test(url.pathname)) {
    event.respondWith(networkFirst(request, url));
  }
});

async function fromShell(request, url) {
  const cache = await caches.open(SHELL_CACHE);
  const kept = await cache.match(url.pathname);
  if (kept) return kept;
  return fetch(request);
}

async function tokenHash(request) {
  const authorization = request.headers.get("Authorization") || "";
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(authorization));
  return Array.from(new Uint8Array(digest).slice(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function networkFirst(request, url) {
  const key = new URL(url);
  key.searchParams.set("__for", await tokenHash(request));
  key.searchParams.set("__lang", request.headers.get("Accept-Language") || "");
  const cache = await caches.open(DATA_CACHE);
  const kept = await cache.match(key.href);
  const network = fetch(request).then(async (response) => {
    if (response.ok) await cache.put(key.href, response.clone());
    return response;
  });
  if (!kept) return network;
  // A slow connection should not keep the form waiting when a copy is at hand; the network
  // answer still refreshes the copy when it arrives.
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), NETWORK_WAIT_MS));
  try {
    const first = await Promise.race([network, timeout]);
    if (first && first.status < 500) return first;
  } catch (_) {
    // offline: the kept copy answers
  }
  network.catch(() => {});
  const headers = new Headers(kept.headers);
  headers.set("X-From-Offline-Copy", "true");
  return new Response(kept.body, { status: kept.status, statusText: kept.statusText, headers });
}

self.addEventListener("sync", (event) => {
  if (event.tag !== "outbox") return;
  event.waitUntil(
    (async () => {
      const kept = await deviceGet(KEPT_TOKEN);
      if (!kept) return;
      const result = await flush({ owner: kept.me.name, token: kept.token, lang: kept.lang || "en", now: true });
      // Still waiting: let the browser call again later, with its own backoff.
      if (result.waiting && !result.signedOut) throw new Error("outbox not empty");
    })(),
  );
});
