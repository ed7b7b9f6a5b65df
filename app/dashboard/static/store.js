// The sitrep form's records in IndexedDB, which outlive a reload, a closed tab and a
// restarted browser. One store, "sitreps": each record is a sitrep in the making, from the
// draft being typed to its answer from the service:
//
//   {id, owner, state, form, body, key, sentBody, amend, problem, result, attempts,
//    nextAt, created, updated}
//
// state is "draft" (being typed), "waiting" (in the outbox, to be sent), "sending",
// "accepted" (result: {id, etag}), "refused" (problem: the 422/403/... problem+json),
// "conflict" (problem: the 409, naming the sitrep holding the slot) or "stale" (problem: the
// 412 of an amendment whose sitrep changed meanwhile). `key` is the Idempotency-Key, made
// when the record is created and kept for every retry of the same request (`sentBody`);
// owner is the name of the user who typed it: another user of the device never sees it.
// A second store, "device", holds what the user chose to keep on this device.

const NAME = "crisis-tracker-form";
// The token of "keep me signed in on this device", in the device store: {token, me, lang}.
export const KEPT_TOKEN = "kept-token";
const VERSION = 1;
let opened = null;

function database() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        const sitreps = db.createObjectStore("sitreps", { keyPath: "id" });
        sitreps.createIndex("owner", "owner");
        db.createObjectStore("device");
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function store(name, mode) {
  return (await database()).transaction(name, mode).objectStore(name);
}

export function newId() {
  return crypto.randomUUID();
}

/** A new draft of `owner`, with its Idempotency-Key made now. */
export function newRecord(owner, form, amend = null) {
  const now = new Date().toISOString();
  return {
    id: newId(),
    owner,
    state: "draft",
    form,
    body: null,
    key: newId(),
    sentBody: null,
    amend,
    problem: null,
    result: null,
    attempts: 0,
    nextAt: 0,
    created: now,
    updated: now,
  };
}

export async function put(record) {
  record.updated = new Date().toISOString();
  await done((await store("sitreps", "readwrite")).put(record));
  return record;
}

export async function getRecord(id) {
  return (await done((await store("sitreps", "readonly")).get(id))) || null;
}

export async function remove(id) {
  await done((await store("sitreps", "readwrite")).delete(id));
}

/** Every record of `owner`, newest first. */
export async function recordsOf(owner) {
  const all = await done((await store("sitreps", "readonly")).index("owner").getAll(owner));
  return all.sort((a, b) => (a.created < b.created ? 1 : -1));
}

/**
 * Changes a record inside one transaction: `change(record)` returns the new record, or
 * null to leave it as it is. Resolves to what is stored afterwards.
 */
export async function update(id, change) {
  const sitreps = await store("sitreps", "readwrite");
  const current = await done(sitreps.get(id));
  if (!current) return null;
  const next = change(structuredClone(current));
  if (!next) return current;
  next.updated = new Date().toISOString();
  await done(sitreps.put(next));
  return next;
}

export async function deviceGet(name) {
  return (await done((await store("device", "readonly")).get(name))) ?? null;
}

export async function deviceSet(name, value) {
  const device = await store("device", "readwrite");
  await done(value === null ? device.delete(name) : device.put(value, name));
}

// The service worker's copies of the user's data (sw.js), in the Cache Storage.
export const DATA_CACHE = "ct-data-v1";

/** Forgets what this device keeps for the user who signs out (or whose token is refused):
 * the token of "keep me signed in", and the copies of their data. */
export async function forgetDevice() {
  await deviceSet(KEPT_TOKEN, null);
  if (globalThis.caches) await caches.delete(DATA_CACHE);
}
