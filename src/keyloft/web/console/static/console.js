// Keyloft console: small enhancements over pages that work without script.
// Copy buttons, the delete confirmation dialog, filtering the clients table as you type, and
// showing the fields of a choice only while it is chosen (data-shown-for="name=value", or
// "name=one other" for any of several values).
"use strict";

function textOf(element) {
  return "value" in element && element.tagName !== "PRE" ? element.value : element.textContent;
}

async function copy(button) {
  const source = document.getElementById(button.dataset.copy);
  const status = document.querySelector(`[data-copied-for="${button.dataset.copy}"]`);
  if (!source) return;
  const text = textOf(source);
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch (_) {
    // Clipboard API refused (no permission, or not a secure context): select for manual copy.
    if (source.select) source.select();
  }
  if (status) status.textContent = done ? "Copied." : "Selected: press Ctrl+C to copy.";
}

function filterRows(input) {
  const table = document.getElementById(input.dataset.filter);
  if (!table) return;
  const needle = input.value.trim().toLowerCase();
  let shown = 0;
  const rows = table.tBodies[0].rows;
  for (const row of rows) {
    const match = !needle || row.dataset.search.includes(needle);
    row.hidden = !match;
    if (match) shown += 1;
  }
  const count = document.getElementById("count");
  if (count) count.textContent = `${shown} of ${rows.length} shown.`;
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-copy], [data-dialog], [data-close]");
  if (!target) return;
  if (target.dataset.copy) {
    copy(target);
  } else if (target.dataset.dialog) {
    const dialog = document.getElementById(target.dataset.dialog);
    if (dialog && dialog.showModal) {
      event.preventDefault();
      dialog.showModal();
    }
  } else if (target.dataset.close) {
    document.getElementById(target.dataset.close)?.close();
  }
});

document.addEventListener("input", (event) => {
  if (event.target.matches("[data-filter]")) filterRows(event.target);
});

function showChosen() {
  for (const part of document.querySelectorAll("[data-shown-for]")) {
    const [name, values] = part.dataset.shownFor.split("=");
    const form = part.closest("form");
    const chosen = form && form.querySelector(`input[name="${name}"]:checked`);
    part.hidden = !chosen || !values.split(" ").includes(chosen.value);
  }
}

document.addEventListener("change", (event) => {
  if (event.target.matches("input[type=radio]")) showChosen();
});

showChosen();
