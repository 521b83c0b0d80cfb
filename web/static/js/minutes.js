// The minutes editor (web/templates/minutes/editor.html.j2). The page works without this: every
// button posts the form. With it:
// - the draft is saved as the clinician types (800 ms after the last change, when a field loses
//   focus, and when the page is hidden or closed), by PUT /api/v1/minutes/<id> with the version it
//   was based on, and a quiet status says where things stand;
// - until the server has it, the content is also kept on this device (./minutes/copies.js), and a
//   newer copy found when the page opens is offered back;
// - rows are added and removed here, from the <template> rows;
// - a 409 (someone else saved first) shows both versions, section by section, to choose from
//   (./minutes/conflict.js); nothing is saved over theirs until every difference has a choice.

import { LocalCopies } from "./minutes/copies.js";
import { differing, hideConflict, sectionValue, showConflict } from "./minutes/conflict.js";
import {
  canonical,
  fillForm,
  fillSection,
  newRow,
  readForm,
  refresh,
  rowsOf,
  sectionOf,
  syncChangeFields,
} from "./minutes/form.js";

const DEBOUNCE_MS = 800;
const RETRY_MS = [2000, 5000, 10000, 30000];
// Browsers refuse keepalive requests with larger bodies; such a save is sent normally.
const KEEPALIVE_LIMIT = 60000;

const clock = (date) => `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;

const form = document.getElementById("minutes-form");
if (form) start(form);

function start(form) {
  const statusEl = document.getElementById("autosave-status");
  const versionInput = form.elements.namedItem("version");
  const csrfToken = form.elements.namedItem("_csrf_token").value;
  const labels = JSON.parse(form.dataset.labels);
  const people = JSON.parse(form.dataset.people || "{}");
  const copies = new LocalCopies(form.dataset.minutesId);
  const conflictPanel = document.getElementById("conflict");

  let version = Number(versionInput.value);
  const serverContent = readForm(form, labels);
  let lastSaved = canonical(serverContent);
  let debounce = null;
  let retryTimer = null;
  let retries = 0;
  let inFlight = null;
  let saveAgain = false;
  let inConflict = false;
  let stopped = false;
  let submitting = false;

  const read = () => readForm(form, labels);
  const dirty = () => canonical(read()) !== lastSaved;

  // Where saving stands, for styling and for tests: saved, pending, saving, conflict, error, stopped.
  const mark = (state) => {
    form.dataset.saveState = state;
  };

  const setStatus = (text, problem = false) => {
    // Routine progress stays quiet for screen readers; problems are announced.
    statusEl.setAttribute("aria-live", problem ? "polite" : "off");
    statusEl.textContent = text;
    statusEl.classList.toggle("is-problem", problem);
  };

  const schedule = (delay = DEBOUNCE_MS) => {
    clearTimeout(debounce);
    if (!inConflict && !stopped) debounce = setTimeout(() => save(), delay);
  };

  const retryLater = () => {
    clearTimeout(retryTimer);
    const delay = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
    retries += 1;
    mark("pending");
    setStatus(
      navigator.onLine === false
        ? "Offline. Your changes are kept on this device and saved when you are back online."
        : "Not saved — retrying. Your changes are kept on this device.",
      true,
    );
    retryTimer = setTimeout(() => save(), delay);
  };

  const saved = (body, sent) => {
    version = body.version;
    versionInput.value = String(version);
    lastSaved = sent;
    retries = 0;
    copies.clear();
    if (dirty()) {
      copies.keep(version, read());
      mark("pending");
      schedule();
    } else {
      mark("saved");
    }
    setStatus(`Saved ${clock(new Date())}`);
  };

  async function send(content, sent, keepalive) {
    let response;
    try {
      response = await fetch(form.dataset.apiUrl, {
        method: "PUT",
        credentials: "same-origin",
        keepalive: keepalive && sent.length < KEEPALIVE_LIMIT,
        headers: { "Content-Type": "application/json", Accept: "application/json", "x-csrf-token": csrfToken },
        body: JSON.stringify({ version, content }),
      });
    } catch {
      retryLater();
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      saved(body, sent);
    } else if (response.status === 409 && body.final) {
      stopped = true;
      mark("stopped");
      setStatus("Not saved — these minutes have been signed. Reload the page to see them.", true);
    } else if (response.status === 409) {
      // "Yours" is what the form holds now, typing since the save was sent included.
      await conflict(body, read());
    } else if (response.status === 401) {
      mark("error");
      setStatus("Not saved — you have been signed out. Your changes are kept on this device; sign in again, then reopen these minutes.", true);
    } else if (response.status >= 500 || response.status === 429) {
      retryLater();
    } else {
      mark("error");
      setStatus(`Not saved — ${body.detail ?? "the server refused the change"}`, true);
    }
  }

  async function save({ keepalive = false } = {}) {
    clearTimeout(debounce);
    clearTimeout(retryTimer);
    if (inConflict || stopped) return;
    if (inFlight) {
      saveAgain = true;
      return inFlight;
    }
    const content = read();
    const sent = canonical(content);
    if (sent === lastSaved) {
      mark("saved");
      return;
    }
    mark("saving");
    setStatus("Saving…");
    inFlight = send(content, sent, keepalive);
    try {
      await inFlight;
    } finally {
      inFlight = null;
      if (saveAgain) {
        saveAgain = false;
        schedule(0);
      }
    }
  }

  // ---- someone else saved first ---------------------------------------------------------------

  async function conflict(body, mine) {
    let theirs = body.content;
    let theirVersion = body.current_version;
    let editor = body.updated_by_id;
    let editedAt = body.updated_at;
    if (!theirs || typeof theirVersion !== "number") {
      // Refused without the server's copy: fetch it.
      const current = await fetch(form.dataset.apiUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .catch(() => null);
      if (!current) {
        retryLater();
        return;
      }
      ({ content: theirs, version: theirVersion, updated_by_id: editor, updated_at: editedAt } = current);
    }
    showBoth({ theirs, theirVersion, editor, editedAt, mine });
  }

  function showBoth({ theirs, theirVersion, editor, editedAt, mine }) {
    const keys = differing(mine, theirs);
    if (!keys.length) {
      // Both say the same (a save that reached the server twice): nothing to choose.
      version = theirVersion;
      versionInput.value = String(version);
      lastSaved = canonical(mine);
      copies.clear();
      mark("saved");
      setStatus(`Saved ${clock(new Date())}`);
      return;
    }
    inConflict = true;
    mark("conflict");
    clearTimeout(debounce);
    setStatus("Not saved — someone else saved first. Choose what to keep above.", true);
    const choices = new Map();
    showConflict(conflictPanel, {
      mine,
      theirs,
      keys,
      author: people[editor] ?? "Someone",
      time: editedAt ? clock(new Date(editedAt)) : "a moment ago",
      labels,
      people,
      onChoose: (key, choice) => {
        const before = choices.get(key);
        choices.set(key, choice);
        if (choice === "theirs") fillSection(form, key, sectionValue(theirs, key), labels);
        else if (before === "theirs") fillSection(form, key, sectionValue(mine, key), labels);
        copies.keep(version, read());
      },
    });
    conflictPanel.querySelector("#conflict-save").onclick = () => {
      // The choices are in the form (and edited there, if need be): save them over the version compared.
      version = theirVersion;
      versionInput.value = String(version);
      lastSaved = canonical(theirs);
      inConflict = false;
      mark("pending");
      hideConflict(conflictPanel);
      statusEl.focus();
      save();
    };
  }

  // ---- a copy left on this device ----------------------------------------------------------------

  const offer = document.getElementById("restore-offer");
  const copy = copies.newest();
  if (copy && canonical(copy.content) !== lastSaved) {
    document.getElementById("restore-text").textContent =
      `This device has changes to these minutes from ${new Date(copy.at).toLocaleString()} that did not reach the server.`;
    offer.hidden = false;
    offer.querySelector("[data-restore]").addEventListener("click", () => {
      offer.hidden = true;
      fillForm(form, copy.content, labels);
      if (copy.version === version) {
        save();
      } else {
        // Made on an older version: compare with what the server has now.
        showBoth({
          theirs: serverContent,
          theirVersion: version,
          editor: null,
          editedAt: form.dataset.updatedAt,
          mine: copy.content,
        });
      }
    });
    offer.querySelector("[data-discard]").addEventListener("click", () => {
      offer.hidden = true;
      copies.clear();
    });
  } else {
    copies.clear();
  }

  // ---- editing --------------------------------------------------------------------------------

  const edited = () => {
    mark("pending");
    copies.keep(version, read());
    schedule();
  };

  form.addEventListener("input", edited);
  form.addEventListener("change", (event) => {
    if (event.target.matches("[data-change-op]")) syncChangeFields(event.target.closest("[data-row]"));
    edited();
  });
  form.addEventListener("focusout", (event) => {
    if (event.target.matches("input, select, textarea") && dirty()) save();
  });

  form.addEventListener("click", (event) => {
    const add = event.target.closest("[data-add]");
    const remove = event.target.closest("[data-remove]");
    if (add) {
      event.preventDefault();
      const fieldset = sectionOf(form, add.dataset.add);
      const row = newRow(fieldset);
      fieldset.querySelector("[data-rows]").append(row);
      const op = row.querySelector("[data-change-op]");
      if (op) op.value = document.getElementById("new-change-op")?.value ?? "";
      refresh(fieldset);
      row.querySelector("input:not([type=hidden]), select, textarea")?.focus();
      edited();
    } else if (remove) {
      event.preventDefault();
      const row = remove.closest("[data-row]");
      const fieldset = row.closest("[data-section]");
      row.remove();
      refresh(fieldset);
      fieldset.querySelector("[data-add]")?.focus();
      setStatus(`Removed. ${rowsOf(fieldset).length} left in this section.`);
      edited();
    }
  });

  form.addEventListener("submit", async (event) => {
    if (submitting) return;
    const action = event.submitter?.value ?? "save";
    event.preventDefault();
    if (action === "save") {
      await save();
      if (!inConflict && !stopped && !dirty()) setStatus("All changes saved.");
      return;
    }
    // Finalize: the draft goes to the server first (a save in flight, and whatever was typed
    // since), then the form posts as it would without us, against the version saved.
    for (let tries = 0; tries < 5 && !inConflict && !stopped; tries += 1) {
      if (inFlight) await inFlight;
      else if (dirty()) await save();
      else break;
    }
    if (inConflict || stopped) return;
    stopped = true;
    clearTimeout(debounce);
    clearTimeout(retryTimer);
    versionInput.value = String(version);
    submitting = true;
    // In a task of its own: while the browser is still handling the first submit (as it is in
    // this handler's microtasks), it ignores another.
    setTimeout(() => form.requestSubmit(event.submitter), 0);
  });

  // ---- leaving, and the connection -------------------------------------------------------------

  const flush = () => {
    if (!inFlight && dirty()) save({ keepalive: true });
  };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush();
  });
  window.addEventListener("pagehide", flush);
  window.addEventListener("online", () => {
    if (dirty()) save();
  });
  window.addEventListener("offline", () => {
    if (dirty()) setStatus("Offline. Your changes are kept on this device and saved when you are back online.", true);
  });

  for (const fieldset of form.querySelectorAll("[data-section]")) {
    if (fieldset.querySelector("[data-rows]")) refresh(fieldset);
  }
  mark("saved");
  setStatus(`Saved version ${version}. Changes are saved as you type.`);
}
