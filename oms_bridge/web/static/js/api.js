// The service's HTTP API: the token for this tab, JSON requests, the outage stream.
//
// The dispatcher token lives in sessionStorage (this tab only, gone when it
// closes) and travels only in the Authorization header: never in a URL. The
// stream is read with fetch() rather than EventSource so that it can carry that
// header too.

const TOKEN_KEY = "oms-bridge.dispatcher-token";

export class AuthError extends Error {
  constructor(status, detail) {
    super(detail || (status === 403 ? "This token's role may not read outages" : "Token not accepted"));
    this.status = status;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

async function problemDetail(resp) {
  try {
    const body = await resp.json();
    return body.detail || body.title || resp.statusText;
  } catch {
    return resp.statusText;
  }
}

export async function api(path, { method = "GET", body, signal, tokenValue } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${tokenValue ?? token.get() ?? ""}` };
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401 || resp.status === 403) throw new AuthError(resp.status, await problemDetail(resp));
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${await problemDetail(resp)}`);
  return resp.json();
}

/** Every page of a cursor-paged list ({items, next}), up to `max` items. */
export async function pages(path, params = {}, max = 20000) {
  const items = [];
  let after = null;
  for (;;) {
    const q = new URLSearchParams({ ...params, limit: String(Math.min(1000, max - items.length)) });
    if (after !== null && after !== undefined) q.set("after", String(after));
    const page = await api(`${path}?${q}`);
    const got = Array.isArray(page) ? page : page.items ?? [];
    items.push(...got);
    const next = Array.isArray(page) ? null : page.next;
    if (next === null || next === undefined || got.length === 0 || items.length >= max) return items;
    after = next;
  }
}

/**
 * Keep reading the server-sent-events stream at `path`, reconnecting with
 * back-off. Calls onEvent({event, data, id}) per message and onState(state,
 * info) with "connecting", "live", or "down" (info.retryInS).
 */
export function openStream(path, { onEvent, onState, onAuthError }) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  let failures = 0;
  let watchdog = null;
  const STALL_MS = 90000;

  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => controller?.abort(), STALL_MS);
  };

  async function once() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${token.get() ?? ""}` };
    if (lastId) headers["Last-Event-ID"] = lastId;
    const resp = await fetch(path, { headers, signal: controller.signal, cache: "no-store" });
    if (resp.status === 401 || resp.status === 403) throw new AuthError(resp.status, await problemDetail(resp));
    if (!resp.ok || !resp.body) throw new Error(`stream answered ${resp.status}`);
    failures = 0;
    onState("live");
    arm();
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let msg = { event: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      arm();
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (msg.data.length) {
            if (msg.id !== null) lastId = msg.id;
            onEvent({ event: msg.event, data: msg.data.join("\n"), id: msg.id });
          }
          msg = { event: "message", data: [], id: null };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") msg.data.push(val);
        else if (field === "event") msg.event = val;
        else if (field === "id") msg.id = val;
      }
    }
  }

  (async () => {
    while (!stopped) {
      onState("connecting");
      try {
        await once();
      } catch (err) {
        if (err instanceof AuthError) {
          onAuthError(err);
          return;
        }
      }
      clearTimeout(watchdog);
      if (stopped) return;
      failures += 1;
      const retryInS = Math.min(15, 2 ** Math.min(failures - 1, 4));
      onState("down", { retryInS });
      await new Promise((r) => setTimeout(r, retryInS * 1000));
    }
  })();

  return {
    close() {
      stopped = true;
      clearTimeout(watchdog);
      controller?.abort();
    },
  };
}
