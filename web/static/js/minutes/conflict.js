// Both versions side by side, when a save finds that someone else saved first: for each section
// that differs, "Keep mine" or "Use theirs". Nothing is overwritten until every differing section
// has a choice and the clinician saves. Everything is drawn with textContent: content is never HTML.

import { canonical } from "./form.js";

const SECTION_ORDER = [
  "attendees",
  "agenda_items",
  "measures",
  "decisions",
  "action_items",
  "proposed_changes",
  "risk_flags",
  "details",
];

export const sectionValue = (content, key) =>
  key === "details"
    ? { includes_substance_use: Boolean(content.includes_substance_use), next_review_on: content.next_review_on ?? null }
    : (content[key] ?? []);

// The sections in which two contents differ.
export const differing = (mine, theirs) =>
  SECTION_ORDER.filter((key) => canonical(sectionValue(mine, key)) !== canonical(sectionValue(theirs, key)));

// One section in words, a line per item.
function lines(key, content, labels, people) {
  const person = (id) => (id ? (people[id] ?? "someone no longer on record") : "nobody");
  const value = sectionValue(content, key);
  if (key === "details") {
    return [
      `Substance use (42 CFR Part 2) information: ${value.includes_substance_use ? "included" : "not marked"}`,
      `Next review: ${value.next_review_on ?? "not set"}`,
    ];
  }
  if (!value.length) return ["None."];
  return value.map((item) => {
    switch (key) {
      case "attendees":
        return `${item.name || "Not chosen yet"} (${labels.roles[item.role] ?? (item.role || "role not given")}, ${item.minutes_present ?? 0} minutes)`;
      case "agenda_items":
        return `${item.title || "Untitled"}${item.discussion ? `: ${item.discussion}` : ""}`;
      case "measures": {
        const scale = item.name || labels.instruments[item.instrument] || item.instrument || "Scale not chosen";
        const result = [item.score ?? null, item.category || null].filter((part) => part !== null).join(", ") || "no result";
        return `${scale}: ${result}; given ${item.administered_on ?? "no date"}`;
      }
      case "decisions":
        return item || "(empty)";
      case "action_items":
        return `${item.text || "(empty)"} (owner: ${person(item.owner_id)}${item.due_on ? `; due ${item.due_on}` : ""}${item.done ? "; done" : ""})`;
      case "proposed_changes": {
        const parts = Object.entries(item)
          .filter(([name]) => !["op", "high_risk", "reason", "objectives"].includes(name))
          .map(([name, text]) => {
            const kind = labels.field_kinds[name];
            const shown = kind === "person" ? person(text) : kind === "team_role" ? (labels.roles[text] ?? text) : text;
            return `${labels.field_labels[name] ?? name}: ${shown === "" ? "not given" : shown}`;
          });
        for (const objective of item.objectives ?? []) parts.push(`objective: ${objective.text ?? ""}`);
        if (item.reason) parts.push(`reason: ${item.reason}`);
        const kind = labels.ops[item.op] ?? "Kind of change not chosen";
        return `${kind}${item.high_risk ? " (high risk)" : ""}${parts.length ? `: ${parts.join("; ")}` : ""}`;
      }
      case "risk_flags":
        return `${labels.risks[item.kind] ?? (item.kind || "Kind not chosen")}, ${item.level || "level not chosen"}${item.note ? `: ${item.note}` : ""}`;
      default:
        return JSON.stringify(item);
    }
  });
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function column(heading, items) {
  const box = element("div", "compare-column");
  box.append(element("h4", "", heading));
  const list = element("ul", "read-list");
  for (const line of items) list.append(element("li", "prose", line));
  box.append(list);
  return box;
}

// Draw the comparison into the panel. ``onChoose(key, "mine" | "theirs")`` is called for each
// choice; the save button is enabled once every differing section has one.
export function showConflict(panel, { mine, theirs, keys, author, time, labels, people, onChoose }) {
  const holder = panel.querySelector("#conflict-sections");
  const save = panel.querySelector("#conflict-save");
  const chosen = new Map();
  panel.querySelector("#conflict-text").textContent =
    `${author} saved these minutes at ${time}, after you opened them. ${keys.length === 1 ? "One section differs" : `${keys.length} sections differ`}.`;
  holder.replaceChildren();
  save.disabled = true;

  for (const key of keys) {
    const title = labels.sections[key] ?? key;
    const section = element("section", "compare-section");
    const headingId = `conflict-${key}`;
    const heading = element("h3", "", title);
    heading.id = headingId;
    section.setAttribute("aria-labelledby", headingId);
    const columns = element("div", "compare-columns");
    columns.append(column(`Theirs (${author})`, lines(key, theirs, labels, people)));
    columns.append(column("Yours", lines(key, mine, labels, people)));
    const choices = element("div", "row-actions");
    choices.setAttribute("role", "group");
    choices.setAttribute("aria-label", `${title}: which to keep`);
    const note = element("p", "muted small conflict-choice");
    for (const [choice, label] of [
      ["mine", "Keep mine"],
      ["theirs", "Use theirs"],
    ]) {
      const button = element("button", "button secondary small", label);
      button.type = "button";
      button.dataset.choice = choice;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => {
        for (const other of choices.querySelectorAll("button")) {
          other.setAttribute("aria-pressed", String(other === button));
        }
        chosen.set(key, choice);
        note.textContent = choice === "mine" ? "Keeping yours." : "Using theirs; it is now in the form below.";
        onChoose(key, choice);
        if (chosen.size === keys.length) save.disabled = false;
      });
      choices.append(button);
    }
    section.append(heading, columns, choices, note);
    holder.append(section);
  }
  panel.hidden = false;
  panel.querySelector("#conflict-heading").focus();
}

export function hideConflict(panel) {
  panel.hidden = true;
  panel.querySelector("#conflict-sections").replaceChildren();
}
