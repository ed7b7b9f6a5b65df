// The outbox: sitreps submitted but not yet answered, sent by themselves when there is a
// connection. Used by the form's pages and by the service worker (for a user who chose to
// stay signed in on the device), so it needs nothing but fetch and IndexedDB.
//
// Every retry of a request carries the Idempotency-Key made with its draft: a sitrep whose
// answer was lost on the way back is answered again from the service's record of it, and
// is stored exactly once. A request that changed (a refused draft corrected) gets a new key.

import * as store from "./store.js";

const RETRY_FIRST_MS = 2000;
const RETRY_MAX_MS = 5 * 60 * 1000;
const KEY_IN_USE = "urn:crisis-tracker:problem:idempotency-key-in-use";
const TRANSIENT = new Set([408, 425, 429, 500, 502, 503, 504]);
export const CHANNEL = "crisis-tracker-outbox";

/** Records the user may still edit: nothing has reached the service, or it refused them. */
export function editable(record) {
  return ["draft", "refused", "conflict", "stale"].includes(record.state) ||
    (record.state === "waiting" && !record.tried);
}

function requestOf(record) {
  if (record.amend) {
    return {
      method: "PUT",
      path: `/api/v1/sitreps/${record.amend.sitrep_id}`,
      headers: { "If-Match": record.amend.etag },
    };
  }
  return { method: "POST", path: "/api/v1/sitreps", headers: {} };
}

/** Puts the record in the outbox with this body. The Idempotency-Key stays the one made
 * with the draft as long as the request is the same; a changed request gets a new one. */
export async function enqueue(id, body) {
  const queued = await store.update(id, (record) => {
    const request = JSON.stringify({ body, ifMatch: record.amend ? record.amend.etag : null });
    if (record.keyFor && record.keyFor !== request) {
      record.key = store.newId();
      record.tried = false;
    }
    record.keyFor = request;
    Object.assign(record, { body, state: "waiting", problem: null, attempts: 0, nextAt: 0 });
    return record;
  });
  announce(id);
  return queued;
}

function announce(id) {
  try {
    const channel = new BroadcastChannel(CHANNEL);
    channel.postMessage({ id });
    channel.close();
  } catch (_) {
    // no BroadcastChannel: other tabs see the change when they next render
  }
}

function backoff(attempts, retryAfter) {
  const exponential = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempts);
  const jittered = exponential / 2 + Math.random() * (exponential / 2);
  const asked = Number(retryAfter) * 1000;
  return Number.isFinite(asked) && asked > jittered ? asked : jittered;
}

async function settle(id, change) {
  const record = await store.update(id, (r) => (r.state === "sending" ? change(r) : null));
  announce(id);
  return record;
}

/** Sends one record; resolves to "sent", "retry" or "signed-out". */
async function send(record, { token, lang }) {
  const { method, path, headers } = requestOf(record);
  await store.update(record.id, (r) => Object.assign(r, { state: "sending", tried: true }));
  announce(record.id);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        ...headers,
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
        "Accept-Language": lang || "en",
        "Content-Type": "application/json",
        "Idempotency-Key": record.key,
      },
      body: JSON.stringify(record.body),
    });
  } catch (_) {
    await settle(record.id, (r) => retryLater(r, null));
    return "retry";
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (_) {
    answer = null;
  }
  const status = response.status;
  if (response.ok) {
    await settle(record.id, (r) =>
      Object.assign(r, {
        state: "accepted",
        problem: null,
        result: {
          id: answer.id,
          revision: answer.revision,
          etag: response.headers.get("ETag"),
          replayed: response.headers.get("Idempotent-Replayed") === "true",
        },
      }),
    );
    return "sent";
  }
  if (status === 401) {
    // The token is gone or revoked: wait, untouched, until the user signs in again.
    await settle(record.id, (r) => Object.assign(r, { state: "waiting" }));
    return "signed-out";
  }
  const inFlight = status === 409 && answer && answer.type === KEY_IN_USE;
  if (TRANSIENT.has(status) || inFlight) {
    await settle(record.id, (r) => retryLater(r, response.headers.get("Retry-After")));
    return "retry";
  }
  const state = status === 409 ? "conflict" : status === 412 ? "stale" : "refused";
  const problem = answer && typeof answer === "object" ? answer : { status, detail: "" };
  await settle(record.id, (r) => Object.assign(r, { state, problem: { ...problem, status } }));
  return "sent";
}

function retryLater(record, retryAfter) {
  const wait = backoff(record.attempts, retryAfter);
  return Object.assign(record, { state: "waiting", attempts: record.attempts + 1, nextAt: Date.now() + wait });
}

async function exclusively(work) {
  // One sender at a time across tabs and the service worker; without Web Locks a second
  // sender would only be told "in use" (409) by the service and retry, which is safe too.
  if (navigator.locks) return navigator.locks.request("crisis-tracker-outbox", work);
  return work();
}

/**
 * Sends the owner's waiting records whose time has come (all of them with `now: true`).
 * Resolves to {sent, waiting, nextAt, signedOut}: nextAt is when the next retry is due.
 */
export async function flush({ owner, token, lang, now = false }) {
  return exclusively(async () => {
    let sent = 0;
    let signedOut = false;
    for (const record of await store.recordsOf(owner)) {
      // A record left "sending" was cut off with its page: send it again, with its key.
      if (!["waiting", "sending"].includes(record.state)) continue;
      if (!now && record.state === "waiting" && record.nextAt > Date.now()) continue;
      const outcome = await send(record, { token, lang });
      if (outcome === "sent") sent += 1;
      if (outcome === "signed-out") {
        signedOut = true;
        break;
      }
    }
    const left = (await store.recordsOf(owner)).filter((r) => r.state === "waiting");
    const nextAt = left.length ? Math.min(...left.map((r) => r.nextAt)) : null;
    return { sent, waiting: left.length, nextAt, signedOut };
  });
}
