// The signaling channel of a video room: one WebSocket carrying JSON text frames (protocol v1).
//
// It sends "join" (with the resume token kept in sessionStorage) every time the socket opens,
// keeps the token from each "welcome", sends heartbeats, and when the socket drops without being
// asked to, opens a new one with backoff (1, 2, 4, 8 s …, giving up about 20 s after the drop).
// A socket that stays silent for three heartbeat periods is treated as dropped.

const PROTOCOL_VERSION = 1;
const GIVE_UP_AFTER_MS = 20_000;
const MAX_DELAY_MS = 8_000;

// The codes the server uses. conference/rtc/signaling.py is the source of truth (CloseCode,
// RemovalCode); this is the browser's one copy of them, checked against it by tests/unit/test_signaling.py.
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  RESUMED_ELSEWHERE: 4000,
  PROTOCOL: 4400,
  REFUSED: 4403,
  NOT_FOUND: 4404,
  SILENT: 4408,
});
export const REMOVAL = Object.freeze({
  CONSENT: "consent",
  ROOM_CLOSED: "room_closed",
  JOINED_ELSEWHERE: "joined_elsewhere",
});

// Close codes after which trying again cannot help: the server refused us on purpose (every 4xxx
// code, see CLOSE), or something between us and it did (1008, policy violation).
const isFatalClose = (code) => code === 1008 || (code >= 4000 && code <= 4999);

export class Signal {
  /**
   * @param {string} url ws: or wss: address of the signaling endpoint
   * @param {object} handlers message(msg), reconnecting(), dropped(), lost(), fatal(event)
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.storageKey = `conference-room-resume:${new URL(url).pathname}`;
    this.ws = null;
    this.stopped = false;
    this.welcomed = false;
    this.lostAt = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.heartbeatMs = 0;
    this.lastHeard = 0;
  }

  get resumeToken() {
    try {
      return sessionStorage.getItem(this.storageKey);
    } catch {
      return null;
    }
  }

  set resumeToken(token) {
    try {
      if (token) sessionStorage.setItem(this.storageKey, token);
      else sessionStorage.removeItem(this.storageKey);
    } catch {
      // Storage can be unavailable (private mode, blocked): resuming just won't survive a reload.
    }
  }

  get reconnecting() {
    return this.lostAt !== null;
  }

  connect() {
    this.stopped = false;
    this.welcomed = false;
    clearTimeout(this.retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.#dropped(null);
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      this.send({ type: "join", resume: this.resumeToken || null });
    });
    ws.addEventListener("message", (event) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      if (typeof event.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
      if (msg.v !== undefined && msg.v !== PROTOCOL_VERSION) return;
      this.#received(msg);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.#dropped(event);
    });
  }

  /** Sends one message (adding the protocol version); false when the socket is not open. */
  send(message) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...message }));
    return true;
  }

  /** Closes for good: no reconnecting. */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.#stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(CLOSE.NORMAL, "leaving");
  }

  /** Drops the current socket and reconnects at once (used when a peer connection failed). */
  restart() {
    if (this.stopped) return;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(CLOSE.NORMAL, "restarting");
    this.#dropped(null, 0);
  }

  #received(msg) {
    if (msg.type === "welcome") {
      this.welcomed = true;
      if (msg.resume) this.resumeToken = msg.resume;
      const wasLost = this.lostAt !== null;
      this.lostAt = null;
      this.attempt = 0;
      this.#startHeartbeat(Number(msg.heartbeat_seconds) || 15);
      this.handlers.message(msg, { resumed: wasLost });
      return;
    }
    if (msg.type === "error" && !this.welcomed && /resume/i.test(String(msg.code || ""))) {
      // The place we tried to resume is gone: join afresh.
      this.resumeToken = null;
      this.send({ type: "join", resume: null });
      return;
    }
    this.handlers.message(msg, { resumed: false });
  }

  #startHeartbeat(seconds) {
    this.#stopHeartbeat();
    this.heartbeatMs = Math.max(1, seconds) * 1000;
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 3 * this.heartbeatMs) {
        // Nothing heard for three periods: the connection is dead even if the socket has not noticed.
        this.restart();
        return;
      }
      this.send({ type: "heartbeat" });
    }, this.heartbeatMs);
  }

  #stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  #dropped(event, firstDelay) {
    this.#stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
    if (this.stopped) return;
    if (event && isFatalClose(event.code)) {
      this.stopped = true;
      this.handlers.fatal(event);
      return;
    }
    const now = Date.now();
    if (this.lostAt === null) {
      this.lostAt = now;
      this.attempt = 0;
      this.handlers.dropped();
    }
    let delay = firstDelay ?? Math.min(1000 * 2 ** this.attempt, MAX_DELAY_MS);
    const left = this.lostAt + GIVE_UP_AFTER_MS - now;
    if (left < 500) {
      this.stopped = true;
      this.handlers.lost();
      return;
    }
    delay = Math.min(delay, left);
    this.attempt += 1;
    this.handlers.reconnecting();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
