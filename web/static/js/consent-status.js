// Keeps a clinician's consent status page current. Every few seconds, while the page is visible,
// it asks the server for the consent state's version; when that changes (a consent was signed,
// revoked or ended), it fetches the page again and swaps in the new coverage table and consent
// list. Everything outside #consent-live (such as the planned-meeting form) is left alone.

const POLL_MS = 3000;

const live = document.getElementById("consent-live");
const announcer = document.getElementById("consent-live-status");

if (live && live.dataset.stateUrl) {
  let timer = null;
  let stopped = false;
  let busy = false;

  const stop = (message) => {
    stopped = true;
    clearTimeout(timer);
    if (message && announcer) {
      announcer.textContent = message;
      announcer.classList.remove("visually-hidden");
      announcer.classList.add("warning");
    }
  };

  const schedule = () => {
    clearTimeout(timer);
    if (!stopped && document.visibilityState === "visible") {
      timer = setTimeout(poll, POLL_MS);
    }
  };

  const request = (url, accept) =>
    fetch(url, { credentials: "same-origin", headers: { Accept: accept } });

  // What the person is doing inside the live section, so a refresh does not undo it.
  const remember = () => ({
    open: [...live.querySelectorAll("details[open][id]")].map((el) => el.id),
    values: [...live.querySelectorAll("select[id]")].map((el) => [el.id, el.value]),
    focused: live.contains(document.activeElement) ? document.activeElement.id : "",
  });

  const restore = ({ open, values, focused }) => {
    for (const id of open) document.getElementById(id)?.setAttribute("open", "");
    for (const [id, value] of values) {
      const el = document.getElementById(id);
      if (el) el.value = value;
    }
    if (focused) document.getElementById(focused)?.focus();
  };

  const refresh = async () => {
    // The path only: the live section does not depend on the planned-meeting question, and
    // asking that question again would record another consent check.
    const response = await request(location.pathname, "text/html");
    if (!response.ok) {
      stop(response.status === 401 ? "You have been signed out. Reload the page to sign in again." : "");
      return;
    }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("consent-live");
    if (!fresh) {
      stop("This page stopped updating. Reload it to see the latest consents.");
      return;
    }
    const state = remember();
    live.innerHTML = fresh.innerHTML;
    live.dataset.stateVersion = fresh.dataset.stateVersion;
    restore(state);
    for (const note of document.querySelectorAll(".stale-note")) note.hidden = false;
    if (announcer) {
      const now = new Date();
      const time = `${String(now.getHours()).padStart(2, "0")}:${String(now.getMinutes()).padStart(2, "0")}`;
      announcer.textContent = `Consents changed. This page was updated at ${time}.`;
    }
  };

  const poll = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      const response = await request(live.dataset.stateUrl, "application/json");
      if (!response.ok) {
        stop(response.status === 401 ? "You have been signed out. Reload the page to sign in again." : "");
        return;
      }
      const { version } = await response.json();
      if (version && version !== live.dataset.stateVersion) await refresh();
    } catch {
      // A network hiccup: try again next time.
    } finally {
      busy = false;
    }
    schedule();
  };

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !stopped) poll();
    else clearTimeout(timer);
  });

  schedule();
}
