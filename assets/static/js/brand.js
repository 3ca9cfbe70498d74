// Brand settings page: previews follow unsaved edits, and low-resolution renditions are marked.
// Without this file the page still works: saving re-renders the previews on the server.
"use strict";

(() => {
  const form = document.getElementById("brand-form");
  const grid = document.getElementById("preview-grid");
  if (!form || !grid) return;
  const errorBox = document.getElementById("preview-error");
  const unsavedNote = document.getElementById("unsaved-note");
  const FIELDS = [
    "background", "brand_colour", "text_colour", "watermark_asset_id",
    "watermark_position", "watermark_margin", "watermark_scale", "watermark_opacity",
  ];

  // The render endpoint says in a header when a picture is too small for a size.
  async function markLowResolution(img) {
    try {
      const response = await fetch(img.getAttribute("src"), { credentials: "same-origin" });
      const badge = img.closest("figure").querySelector(".low-res");
      if (badge) badge.hidden = response.headers.get("x-low-resolution") !== "1";
    } catch (err) {
      // A failed check leaves the badge as the server drew it.
    }
  }
  grid.querySelectorAll("img[data-rendition]").forEach(markLowResolution);

  function unsavedParams() {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const name of FIELDS) {
      const value = data.get(name);
      if (value !== null) params.set(name, value);
    }
    return params;
  }

  async function showError(url) {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok) return;
      const body = await response.json();
      errorBox.textContent = body.error.message;
    } catch (err) {
      errorBox.textContent = String(err);
    }
    errorBox.hidden = false;
  }

  function refresh() {
    const params = unsavedParams();
    errorBox.hidden = true;
    let reported = false;
    grid.querySelectorAll("img[data-preset]").forEach((img) => {
      const query = new URLSearchParams(params);
      query.set("asset", grid.dataset.asset);
      query.set("preset", img.dataset.preset);
      if (img.dataset.sample) query.set("sample", "1");
      const url = "/api/v1/brand/preview?" + query.toString();
      img.classList.add("stale");
      img.onload = () => img.classList.remove("stale");
      img.onerror = () => {
        img.classList.remove("stale");
        if (!reported) { reported = true; showError(url); }
      };
      img.loading = "eager";
      img.src = url;
    });
    if (unsavedNote) unsavedNote.hidden = false;
  }

  let timer = null;
  function schedule(event) {
    if (event.target.type === "file" || event.target.name === "font_reset") return;
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  }
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
