// The minutes editor's form as content, and content back into the form.
//
// Field names are "section-number-field" (agenda_items-0-title), as the server renders them; the
// server reads a posted form the same way (conference/minutes/pages.py, content_from_form), so a
// draft saved here and one posted without JavaScript have the same shape.

export const LIST_SECTIONS = [
  "attendees",
  "agenda_items",
  "measures",
  "decisions",
  "action_items",
  "proposed_changes",
  "risk_flags",
];

const ROW_FIELD = /^([a-z_]+)-(\d{1,6})-([a-z_]+)$/;

// A whole number as typed; anything else is kept so the server's check names the field.
const whole = (value) => {
  const text = (value ?? "").trim();
  if (!text) return null;
  return /^-?\d{1,9}$/.test(text) ? Number(text) : text;
};

const blankNone = (value) => ((value ?? "").trim() ? value.trim() : null);

// Each list section's rows, ordered by their numbers, as field -> value (and the controls).
function postedRows(form) {
  const found = {};
  for (const control of form.elements) {
    const match = control.name ? ROW_FIELD.exec(control.name) : null;
    if (!match || !LIST_SECTIONS.includes(match[1])) continue;
    if (control.type === "checkbox" && !control.checked) continue;
    const rows = (found[match[1]] ??= new Map());
    const index = Number(match[2]);
    if (!rows.has(index)) rows.set(index, { values: {}, controls: {} });
    const row = rows.get(index);
    row.values[match[3]] = control.type === "checkbox" ? "on" : control.value;
    row.controls[match[3]] = control;
  }
  const ordered = {};
  for (const section of LIST_SECTIONS) {
    const rows = found[section] ?? new Map();
    ordered[section] = [...rows.keys()].sort((a, b) => a - b).map((index) => rows.get(index));
  }
  return ordered;
}

function attendee({ values, controls }) {
  const who = values.who ?? "";
  const option = controls.who?.selectedOptions?.[0];
  let identity;
  if (who === "patient") {
    identity = { name: option?.dataset.name ?? "", person_id: null, patient: true, role: "patient" };
  } else if (who) {
    identity = { name: option?.dataset.name ?? "", person_id: who, patient: false, role: option?.dataset.role ?? "" };
  } else {
    identity = {
      name: values.name ?? "",
      person_id: blankNone(values.person_id),
      patient: values.patient === "true",
      role: values.role ?? "",
    };
  }
  return { ...identity, minutes_present: whole(values.minutes_present) ?? 0 };
}

function change({ values }, labels) {
  const op = (values.op ?? "").trim();
  const result = { op };
  const fields = labels.op_fields[op];
  if (fields) {
    for (const name of fields) {
      const value = values[name] ?? "";
      const kind = labels.field_kinds[name] ?? "text";
      if (kind === "person" || kind === "date") {
        if (value.trim()) result[name] = value.trim();
      } else if (kind === "number") {
        const number = whole(value);
        if (number !== null) result[name] = number;
      } else {
        result[name] = value;
      }
    }
    if (op === "add_goal") {
      const objective = {
        text: values.objective_text ?? "",
        measure: values.objective_measure ?? "",
        target: values.objective_target ?? "",
      };
      const due = (values.objective_due ?? "").trim();
      if (Object.values(objective).some((text) => text.trim()) || due) {
        result.objectives = [{ ...objective, ...(due ? { due } : {}) }];
      }
    }
  }
  result.high_risk = values.high_risk === "on";
  result.reason = values.reason ?? "";
  return result;
}

// The content the form holds now: what a save sends.
export function readForm(form, labels) {
  const rows = postedRows(form);
  const scalar = (name) => form.elements.namedItem(name);
  return {
    attendees: rows.attendees.map(attendee),
    agenda_items: rows.agenda_items.map(({ values }) => ({
      title: values.title ?? "",
      discussion: values.discussion ?? "",
    })),
    measures: rows.measures.map(({ values }) => ({
      instrument: values.instrument ?? "",
      name: values.name ?? "",
      score: whole(values.score),
      category: values.category ?? "",
      administered_on: blankNone(values.administered_on),
    })),
    decisions: rows.decisions.map(({ values }) => values.text ?? ""),
    action_items: rows.action_items.map(({ values }) => ({
      text: values.text ?? "",
      owner_id: blankNone(values.owner_id),
      due_on: blankNone(values.due_on),
      done: values.done === "on",
    })),
    proposed_changes: rows.proposed_changes.map((row) => change(row, labels)),
    risk_flags: rows.risk_flags.map(({ values }) => ({
      kind: values.kind ?? "",
      level: values.level ?? "",
      note: values.note ?? "",
    })),
    includes_substance_use: Boolean(scalar("includes_substance_use")?.checked),
    next_review_on: blankNone(scalar("next_review_on")?.value),
  };
}

// JSON with sorted keys, so two contents compare equal when they say the same.
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

// ---- rows -------------------------------------------------------------------------------------

export const sectionOf = (form, section) => form.querySelector(`[data-section="${section}"]`);

export const rowsOf = (fieldset) => [...fieldset.querySelector("[data-rows]").children].filter((el) => el.matches("[data-row]"));

function nextIndex(fieldset) {
  const section = fieldset.dataset.section;
  let highest = -1;
  for (const control of fieldset.querySelectorAll("[name]")) {
    const match = ROW_FIELD.exec(control.name);
    if (match && match[1] === section) highest = Math.max(highest, Number(match[2]));
  }
  return highest + 1;
}

// A new row from the section's <template>, numbered after every row already there.
export function newRow(fieldset, templateName = fieldset.dataset.section) {
  const template = fieldset.querySelector(`template[data-row-template="${templateName}"]`);
  const row = template.content.firstElementChild.cloneNode(true);
  const index = String(nextIndex(fieldset));
  for (const el of [row, ...row.querySelectorAll("*")]) {
    for (const attribute of [...el.attributes]) {
      if (attribute.value.includes("__i__")) el.setAttribute(attribute.name, attribute.value.replaceAll("__i__", index));
    }
  }
  return row;
}

// After rows come or go: their numbers, the "None yet" note, which change fields show.
export function refresh(fieldset) {
  const rows = rowsOf(fieldset);
  rows.forEach((row, position) => {
    for (const number of row.querySelectorAll("[data-number]")) number.textContent = String(position + 1);
    syncChangeFields(row);
  });
  const empty = fieldset.querySelector("[data-empty]");
  if (empty) empty.hidden = rows.length > 0;
}

// A plan change shows only the fields its kind has.
export function syncChangeFields(row) {
  const select = row.querySelector("[data-change-op]");
  if (!select) return;
  for (const group of row.querySelectorAll(".change-field")) {
    group.hidden = !group.dataset.ops.split(" ").includes(select.value);
  }
}

function setControl(control, value) {
  if (control.type === "checkbox") {
    control.checked = value === true || value === "on";
    return;
  }
  const text = value === null || value === undefined ? "" : String(value);
  if (control.tagName === "SELECT" && text && ![...control.options].some((option) => option.value === text)) {
    control.append(new Option(text, text));
  }
  control.value = text;
}

function valueFor(section, item, field) {
  if (section === "decisions") return field === "text" ? item : undefined;
  if (section === "attendees") {
    if (field === "who") return "";
    if (field === "patient") return item.patient ? "true" : "";
    if (field === "row") return "1";
  }
  if (field === "row") return "1";
  if (section === "proposed_changes" && field.startsWith("objective_")) {
    return item.objectives?.[0]?.[field.slice("objective_".length)];
  }
  return item?.[field];
}

function fillRow(section, row, item, labels) {
  for (const control of row.querySelectorAll("[name]")) {
    const match = ROW_FIELD.exec(control.name);
    if (match) setControl(control, valueFor(section, item, match[3]));
  }
  if (section === "attendees") {
    const name = row.querySelector('[data-show="name"]');
    const role = row.querySelector('[data-show="role"]');
    if (name) name.textContent = item.name ?? "";
    if (role) role.textContent = labels.roles[item.role] ?? item.role ?? "";
  }
  syncChangeFields(row);
}

// Replace a section's rows with these items.
export function fillSection(form, section, items, labels) {
  const fieldset = sectionOf(form, section);
  if (section === "details") {
    setControl(form.elements.namedItem("includes_substance_use"), items.includes_substance_use);
    setControl(form.elements.namedItem("next_review_on"), items.next_review_on);
    return;
  }
  const container = fieldset.querySelector("[data-rows]");
  container.replaceChildren();
  for (const item of items ?? []) {
    const known = section === "attendees" && item && (item.person_id || item.patient);
    const row = newRow(fieldset, known ? "attendees-known" : section);
    container.append(row);
    fillRow(section, row, item, labels);
  }
  refresh(fieldset);
}

export function fillForm(form, content, labels) {
  for (const section of LIST_SECTIONS) fillSection(form, section, content[section], labels);
  fillSection(form, "details", content, labels);
}
