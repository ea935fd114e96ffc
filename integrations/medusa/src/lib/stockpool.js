// @ts-check
/**
 * Stockpool's Medusa subscriber recipe, the part that needs no Medusa: build the event body from an order (and a
 * return), sign it with `Stockpool-Signature`, POST it with retries.
 *
 * Plain CommonJS with JSDoc types: it runs as it is under any Node from 18 on (Debian's `nodejs` included, where
 * TypeScript cannot run without a build), and the TypeScript subscriber beside it imports it with its types
 * (`allowJs`).
 */
"use strict";

const { createHmac } = require("node:crypto");

/** The Medusa v2 order events Stockpool books, under Medusa's own names. */
const ORDER_EVENTS = Object.freeze([
  "order.placed",
  "order.canceled",
  "order.fulfillment_created",
  "order.return_received",
]);
const SIGNATURE_HEADER = "Stockpool-Signature";
/** Answers worth another attempt: timeouts, throttling and server errors; any other answer is final. */
const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * @typedef {{ id?: string, order_id?: string, fulfillment_id?: string, return_id?: string }} EventData
 *   What Medusa's event carries: `{ id }` of the order, or `{ order_id, fulfillment_id | return_id }`.
 * @typedef {{ id: string, items: object[] } & Record<string, unknown>} Order The order as Medusa shows it.
 * @typedef {{ id: string, order_id: string, items: object[] } & Record<string, unknown>} MedusaReturn
 * @typedef {{ id: string, type: string, created_at: string, data: Order, return?: MedusaReturn }} StockpoolEvent
 * @typedef {{ status: number, attempts: number }} Delivery
 * @typedef {object} PostOptions
 * @property {number} [attempts] how many times to try (5)
 * @property {number} [backoffMs] the first wait between attempts, doubled each time (500 ms)
 * @property {number} [timeoutMs] how long one attempt may take (10 s)
 * @property {typeof fetch} [fetchImpl] what sends the request (Node's fetch)
 * @property {(ms: number) => Promise<void>} [sleep] how to wait between attempts
 * @typedef {PostOptions & {
 *   url: string,
 *   secret: string,
 *   fetchOrder: (id: string) => Promise<Order>,
 *   fetchReturn: (id: string) => Promise<MedusaReturn>,
 * }} ForwardOptions
 */

/**
 * What a Medusa event is about: its order, and its subject (the return, the fulfilment or the order itself).
 * @param {string} name
 * @param {EventData} data
 * @returns {{ orderId: string, subject: string }}
 */
function subjectOf(name, data) {
  const orderId = name === "order.placed" || name === "order.canceled" ? data.id : data.order_id;
  let subject = orderId;
  if (name === "order.fulfillment_created") subject = data.fulfillment_id;
  if (name === "order.return_received") subject = data.return_id;
  if (typeof orderId !== "string" || !orderId || typeof subject !== "string" || !subject) {
    throw new Error(`Medusa's ${name} event lacks its ids: ${JSON.stringify(data)}`);
  }
  return { orderId, subject };
}

/**
 * The body Stockpool takes. Its id is the event and its subject, the same on every delivery of one event, so
 * Stockpool books it once however often it arrives.
 * @param {string} name
 * @param {string} subject
 * @param {Order} order
 * @param {MedusaReturn} [medusaReturn]
 * @param {Date} [now]
 * @returns {StockpoolEvent}
 */
function buildEvent(name, subject, order, medusaReturn, now = new Date()) {
  /** @type {StockpoolEvent} */
  const event = { id: `${name}:${subject}`, type: name, created_at: now.toISOString(), data: order };
  if (medusaReturn) event.return = medusaReturn;
  return event;
}

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, Stockpool's signature scheme.
 * @param {string} secret
 * @param {string} body
 * @param {number} [timestamp]
 */
function sign(secret, body, timestamp = Math.floor(Date.now() / 1000)) {
  const digest = createHmac("sha256", secret).update(`${timestamp}.${body}`, "utf8").digest("hex");
  return `t=${timestamp},v1=${digest}`;
}

/** @param {number} ms */
function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * POST an event to Stockpool, signed afresh on every attempt (a signature is refused after 300 s). Network
 * errors and retryable answers are tried again with exponential backoff (longer when `Retry-After` says so);
 * the last failure is thrown.
 * @param {string} url
 * @param {string} secret
 * @param {StockpoolEvent} event
 * @param {PostOptions} [options]
 * @returns {Promise<Delivery>}
 */
async function post(url, secret, event, options = {}) {
  const { attempts = 5, backoffMs = 500, timeoutMs = 10_000, fetchImpl = fetch, sleep = delay } = options;
  const body = JSON.stringify(event);
  let failure = new Error(`${event.id} was not sent`);
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    let wait = backoffMs * 2 ** (attempt - 1);
    try {
      const response = await fetchImpl(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", [SIGNATURE_HEADER]: sign(secret, body) },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.ok) return { status: response.status, attempts: attempt };
      const answer = (await response.text()).slice(0, 500);
      failure = new Error(`Stockpool answered ${response.status} to ${event.id}: ${answer}`);
      if (!RETRYABLE_STATUSES.has(response.status)) break;
      wait = Math.max(wait, Number(response.headers.get("retry-after") || 0) * 1000);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    if (attempt < attempts) await sleep(wait);
  }
  throw failure;
}

/**
 * Forward one Medusa event: read the order (and the return) as Medusa shows it now, then POST it to Stockpool.
 * Events Stockpool does not book are left alone (null).
 * @param {{ name: string, data: EventData }} event
 * @param {ForwardOptions} options
 * @returns {Promise<Delivery | null>}
 */
async function forwardEvent(event, options) {
  if (!ORDER_EVENTS.includes(event.name)) return null;
  const { orderId, subject } = subjectOf(event.name, event.data || {});
  const order = await options.fetchOrder(orderId);
  const medusaReturn = event.name === "order.return_received" ? await options.fetchReturn(subject) : undefined;
  return post(options.url, options.secret, buildEvent(event.name, subject, order, medusaReturn), options);
}

/**
 * Where to send and what to sign with, from `STOCKPOOL_WEBHOOK_URL` and `STOCKPOOL_WEBHOOK_SECRET`.
 * @param {Record<string, string | undefined>} [env]
 * @returns {{ url: string, secret: string }}
 */
function configFromEnv(env = process.env) {
  const url = env.STOCKPOOL_WEBHOOK_URL;
  const secret = env.STOCKPOOL_WEBHOOK_SECRET;
  if (!url || !secret) {
    throw new Error("Set STOCKPOOL_WEBHOOK_URL and STOCKPOOL_WEBHOOK_SECRET to forward Medusa's orders to Stockpool.");
  }
  return { url, secret };
}

module.exports = { ORDER_EVENTS, SIGNATURE_HEADER, subjectOf, buildEvent, sign, post, forwardEvent, configFromEnv };
