// Image library enhancements: drag-and-drop uploads of many files with a progress bar each,
// "select all" for bulk actions, and setting the focal point by clicking on the preview.
// Every page works without this file (one file per upload, numeric focal point).
"use strict";

document.documentElement.classList.add("js");

const PARALLEL_UPLOADS = 2;

function setUpUploads(form) {
  const input = form.querySelector("#upload-file");
  const tags = form.querySelector("#upload-tags");
  const list = document.getElementById("upload-list");
  const done = document.getElementById("upload-done");
  const dropzone = document.getElementById("dropzone");
  const text = form.dataset;
  const maxBytes = Number(text.maxBytes);
  const queue = [];
  let running = 0;

  input.multiple = true;
  input.required = false;

  function row(file) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = text.waiting;
    item.append(name, bar, state);
    list.append(item);
    return { item, bar, state };
  }

  function finish(view, className, message, href) {
    view.state.className = "state " + className;
    view.state.textContent = message;
    if (href) {
      view.state.append(" ");
      const link = document.createElement("a");
      link.href = href;
      link.textContent = text.open;
      view.state.append(link);
    }
  }

  function errorMessage(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (ignored) {
      // Not JSON (a proxy's error page, say): fall through to the status line.
    }
    return xhr.status ? xhr.status + " " + xhr.statusText : text.failed;
  }

  function send(job) {
    const { file, view } = job;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/assets");
    xhr.setRequestHeader("X-CSRF-Token", window.toolkit.csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) view.bar.value = Math.round((event.loaded / event.total) * 100);
    });
    xhr.upload.addEventListener("load", () => {
      view.bar.value = 100;
      view.state.textContent = text.processing;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 200 || xhr.status === 201) {
        const asset = JSON.parse(xhr.responseText);
        const duplicate = asset.duplicate === true;
        finish(view, duplicate ? "dup" : "ok", duplicate ? text.duplicate : text.added, "/library/" + asset.id);
      } else {
        view.bar.value = 0;
        finish(view, "failed", errorMessage(xhr));
      }
      next(true);
    });
    xhr.addEventListener("error", () => {
      finish(view, "failed", text.failed);
      next(true);
    });
    const body = new FormData();
    body.append("tags", tags ? tags.value : "");
    body.append("file", file, file.name);
    xhr.send(body);
  }

  function next(finished) {
    if (finished) running -= 1;
    while (running < PARALLEL_UPLOADS && queue.length) {
      running += 1;
      send(queue.shift());
    }
    if (running === 0 && !queue.length && done) done.hidden = false;
  }

  function add(files) {
    for (const file of files) {
      const view = row(file);
      if (file.size > maxBytes) {
        // Refused here already: the server would answer 413 without reading the body.
        finish(view, "failed", text.tooLarge);
        continue;
      }
      queue.push({ file, view });
    }
    next(false);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) add(input.files);
    input.value = "";
  });
  input.addEventListener("change", () => {
    if (input.files.length) add(input.files);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add("over");
    });
  }
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) add(event.dataTransfer.files);
  });
}

function setUpSelectAll(box) {
  box.addEventListener("change", () => {
    for (const item of document.querySelectorAll('input[name="ids"][form="bulk-form"]')) {
      item.checked = box.checked;
    }
  });
}

function setUpFocalPicker(picker) {
  const image = picker.querySelector("img");
  const marker = picker.querySelector(".focal-marker");
  const vertical = document.getElementById("focal-v");
  const horizontal = document.getElementById("focal-h");
  const x = document.getElementById("focal-x");
  const y = document.getElementById("focal-y");
  const clear = document.getElementById("focal-clear");

  function show() {
    const fx = parseFloat(x.value);
    const fy = parseFloat(y.value);
    const valid = fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1;
    marker.hidden = !valid;
    if (!valid) return;
    vertical.setAttribute("x1", fx);
    vertical.setAttribute("x2", fx);
    horizontal.setAttribute("y1", fy);
    horizontal.setAttribute("y2", fy);
  }

  image.addEventListener("click", (event) => {
    const box = image.getBoundingClientRect();
    const clamp = (value) => Math.min(1, Math.max(0, value));
    x.value = clamp((event.clientX - box.left) / box.width).toFixed(2);
    y.value = clamp((event.clientY - box.top) / box.height).toFixed(2);
    show();
  });
  x.addEventListener("input", show);
  y.addEventListener("input", show);
  if (clear) {
    clear.addEventListener("click", () => {
      x.value = "";
      y.value = "";
      show();
    });
  }
}

const uploadForm = document.getElementById("upload-form");
if (uploadForm) setUpUploads(uploadForm);
const selectAll = document.getElementById("select-all");
if (selectAll) setUpSelectAll(selectAll);
const focalPicker = document.getElementById("focal-picker");
if (focalPicker) setUpFocalPicker(focalPicker);
