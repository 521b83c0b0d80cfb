// Unsent copies of a draft on this device, so a closed tab or a dropped connection loses nothing.
// Kept under "minutes:<id>:<version>" (the version the edits were based on) until the server has
// the content; removed as soon as a save succeeds.

export class LocalCopies {
  constructor(minutesId) {
    this.prefix = `minutes:${minutesId}:`;
  }

  keep(version, content) {
    try {
      localStorage.setItem(this.prefix + version, JSON.stringify({ version, content, at: Date.now() }));
    } catch {
      // Storage full or refused (private browsing): the server copy is all there is.
    }
  }

  #keys() {
    const keys = [];
    try {
      for (let index = 0; index < localStorage.length; index += 1) {
        const key = localStorage.key(index);
        if (key?.startsWith(this.prefix)) keys.push(key);
      }
    } catch {
      // No storage: nothing kept.
    }
    return keys;
  }

  // The most recent copy, or null.
  newest() {
    let best = null;
    for (const key of this.#keys()) {
      try {
        const copy = JSON.parse(localStorage.getItem(key));
        if (copy && typeof copy.version === "number" && copy.content && (!best || copy.at > best.at)) best = copy;
      } catch {
        localStorage.removeItem(key);
      }
    }
    return best;
  }

  clear() {
    for (const key of this.#keys()) localStorage.removeItem(key);
  }
}
