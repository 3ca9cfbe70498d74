// The copy composer: live preview from the server (so the copied text is exactly what the
// preview shows), clipboard, and the image download before LinkedIn opens.
"use strict";

(function () {
  const root = document.getElementById("composer");
  if (!root) return;
  const postId = root.dataset.post;
  const form = document.getElementById("compose-form");
  const textArea = document.getElementById("compose-text");
  const preview = document.getElementById("preview-text");
  const lengthOut = document.getElementById("preview-length");
  const warnings = document.getElementById("preview-warnings");
  const copyButton = document.getElementById("copy-text");
  const copyStatus = document.getElementById("copy-status");
  const linkedin = document.getElementById("open-linkedin");
  const imageLink = document.getElementById("download-image");
  const kitForm = document.getElementById("kit-form");
  const variant = form.querySelector('input[name="variant"]').value;
  const seeMore = preview.dataset.seeMore;

  let composed = preview.dataset.text;
  let pending = null;
  let timer = null;

  function keptHashtags() {
    return Array.from(form.querySelectorAll('input[name="hashtag"]:checked')).map((box) => box.value);
  }

  function showText(text, foldAt) {
    preview.textContent = "";
    if (foldAt >= text.length) {
      preview.textContent = text;
      return;
    }
    preview.append(document.createTextNode(text.slice(0, foldAt)));
    const more = document.createElement("span");
    more.className = "li-more";
    more.textContent = seeMore;
    more.addEventListener("click", () => { preview.textContent = text; });
    preview.append(more);
  }

  function syncKit(hashtags) {
    kitForm.querySelector('input[name="text"]').value = textArea.value;
    kitForm.querySelectorAll('input[name="hashtag"]').forEach((input) => input.remove());
    hashtags.forEach((tag) => {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "hashtag";
      input.value = tag;
      kitForm.append(input);
    });
  }

  async function compose() {
    const hashtags = keptHashtags();
    const response = await fetch(`/api/v1/posts/${postId}/compose`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": window.toolkit.csrfToken() },
      body: JSON.stringify({ variant, text: textArea.value, hashtags }),
    });
    const body = await response.json();
    if (!response.ok) {
      warnings.replaceChildren(Object.assign(document.createElement("li"), { className: "warning", textContent: body.error.message }));
      return;
    }
    composed = body.text;
    showText(body.text, body.fold_at);
    lengthOut.textContent = body.length;
    lengthOut.parentElement.classList.toggle("over", body.length > 3000);
    warnings.replaceChildren(...body.warnings.map((w) => Object.assign(document.createElement("li"), { className: "warning", textContent: w.message })));
    linkedin.href = body.linkedin_url;
    syncKit(body.hashtags);
  }

  function schedule() {
    clearTimeout(timer);
    copyStatus.textContent = "";
    timer = setTimeout(() => { pending = compose().finally(() => { pending = null; }); }, 150);
  }

  textArea.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  form.addEventListener("submit", (event) => { event.preventDefault(); schedule(); });

  copyButton.disabled = false;
  copyButton.addEventListener("click", async () => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
      pending = compose();
    }
    if (pending) await pending;
    await window.toolkit.copyText(composed);
    copyStatus.textContent = copyButton.dataset.copied;
    copyButton.textContent = copyButton.dataset.copied;
    fetch(`/api/v1/posts/${postId}/uses`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": window.toolkit.csrfToken() },
      body: JSON.stringify({ action: "copy", variant }),
    });
  });

  linkedin.addEventListener("click", () => {
    // The share dialog cannot take an image: download it first so it is ready to attach.
    if (imageLink) imageLink.click();
  });

  // "Get share link": one click shows the person's tracked link, ready to copy. Without
  // JavaScript the form posts and the composer comes back with the link shown.
  const shareForm = document.getElementById("share-link-form");
  const shareBox = document.getElementById("share-link");
  const shareUrl = document.getElementById("share-link-url");
  if (shareForm && shareBox && shareUrl) {
    shareForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await fetch(`/api/v1/posts/${postId}/share-link`, {
        method: "POST",
        headers: { "x-csrf-token": window.toolkit.csrfToken() },
      });
      const body = await response.json();
      if (!response.ok) {
        copyStatus.textContent = body.error.message;
        return;
      }
      shareUrl.value = body.url;
      shareBox.hidden = false;
      shareUrl.focus();
      shareUrl.select();
    });
  }
})();
