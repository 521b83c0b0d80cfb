// Sound levels of audio tracks with WebAudio: a level (0–1) for meters, and a debounced
// "speaking" flag per track. One AudioContext for the page and one 10 Hz timer for every track.

const TICK_MS = 100;
const SPEAKING_RMS = 0.015; // about −36 dBFS: above room noise, below quiet speech
const START_TICKS = 2; // this many loud ticks …
const WINDOW_TICKS = 8; // … within this many (800 ms) start "speaking"; a single click or knock does not
const HOLD_MS = 900; // and it lasts this long after the last loud tick

let context = null;

const bitCount = (bits) => {
  let count = 0;
  for (let b = bits; b; b &= b - 1) count += 1;
  return count;
};

/** The page's AudioContext, created on first use (null where WebAudio is missing). */
export function audioContext() {
  if (!context) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (Context) context = new Context();
  }
  return context;
}

/** Browsers start audio only after the person did something; call this from their actions. */
export function resumeAudio() {
  if (context && context.state === "suspended") context.resume().catch(() => {});
}

export class LevelMonitor {
  /**
   * @param {(key: string, level: number) => void} onLevel
   * @param {(key: string, speaking: boolean) => void} onSpeaking
   */
  constructor(onLevel, onSpeaking) {
    this.onLevel = onLevel;
    this.onSpeaking = onSpeaking;
    this.watched = new Map();
    this.timer = null;
  }

  /** Watches `track` under `key` (replacing what was watched there); null stops watching. */
  watch(key, track) {
    const current = this.watched.get(key);
    if (current && current.track === track) return;
    this.unwatch(key);
    if (!track || track.kind !== "audio" || track.readyState === "ended") return;
    const ctx = audioContext();
    if (!ctx) return;
    let source;
    try {
      source = ctx.createMediaStreamSource(new MediaStream([track]));
    } catch {
      return;
    }
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    this.watched.set(key, {
      track,
      source,
      analyser,
      buffer: new Float32Array(analyser.fftSize),
      recent: 0, // the last WINDOW_TICKS ticks, one bit each (1: loud)
      until: 0,
      speaking: false,
    });
    if (!this.timer) this.timer = setInterval(() => this.#tick(), TICK_MS);
  }

  unwatch(key) {
    const entry = this.watched.get(key);
    if (!entry) return;
    this.watched.delete(key);
    try {
      entry.source.disconnect();
    } catch {
      // Already disconnected.
    }
    if (entry.speaking) this.onSpeaking(key, false);
    this.onLevel(key, 0);
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  clear() {
    for (const key of [...this.watched.keys()]) this.unwatch(key);
  }

  #tick() {
    const now = performance.now();
    for (const [key, entry] of this.watched) {
      entry.analyser.getFloatTimeDomainData(entry.buffer);
      let sum = 0;
      for (const sample of entry.buffer) sum += sample * sample;
      const rms = Math.sqrt(sum / entry.buffer.length);
      const live = entry.track.enabled && entry.track.readyState === "live";
      const loud = live && rms > SPEAKING_RMS;
      entry.recent = ((entry.recent << 1) | (loud ? 1 : 0)) & ((1 << WINDOW_TICKS) - 1);
      if (loud && bitCount(entry.recent) >= START_TICKS) entry.until = now + HOLD_MS;
      const speaking = now < entry.until;
      if (speaking !== entry.speaking) {
        entry.speaking = speaking;
        this.onSpeaking(key, speaking);
      }
      // −60 dBFS … 0 dBFS onto 0 … 1.
      const db = rms > 0 ? 20 * Math.log10(rms) : -100;
      this.onLevel(key, live ? Math.min(1, Math.max(0, (db + 60) / 60)) : 0);
    }
  }
}
