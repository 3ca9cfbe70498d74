// Small progressive enhancements shared by every page. Pages work without it.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a LAN has no async clipboard: fall back to a selected textarea.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest(".copy-button[data-copy-from]");
  if (!button) return;
  const source = button.dataset.copyFrom === "prev" ? button.previousElementSibling : document.querySelector(button.dataset.copyFrom);
  if (!source) return;
  await copyText(source.value !== undefined ? source.value : source.textContent);
  const label = button.textContent;
  button.textContent = button.dataset.copiedLabel || "✓";
  setTimeout(() => { button.textContent = label; }, 1500);
});

window.toolkit = { csrfToken, copyText };
