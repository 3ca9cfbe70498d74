// Marketing's post editor: a live LinkedIn-style preview of every variant, with the lint.
"use strict";

(function () {
  const form = document.getElementById("post-form");
  const out = document.getElementById("variant-previews");
  if (!form || !out) return;
  let timer = null;

  function values() {
    const data = new FormData(form);
    const ids = data.getAll("variant_id");
    const langs = data.getAll("variant_language");
    const tones = data.getAll("variant_tone");
    const texts = data.getAll("variant_text");
    const variants = texts.map((text, i) => ({ id: ids[i] || `v${i}`, language: langs[i], tone: tones[i], text }))
      .filter((v) => v.text.trim());
    return {
      title: data.get("title") || "preview",
      campaign: data.get("campaign"),
      variants,
      hashtag_set_ids: data.getAll("hashtag_set_ids"),
      extra_hashtags: data.get("extra_hashtags"),
      link: data.get("link"),
      preset: data.get("preset"),
      channel: data.get("channel"),
    };
  }

  function block(item, variant) {
    const wrap = document.createElement("div");
    wrap.className = "preview-block";
    const title = document.createElement("h3");
    title.textContent = `${variant.language.toUpperCase()}${variant.tone ? " · " + variant.tone : ""}`;
    const post = document.createElement("div");
    post.className = "li-post li-text";
    post.textContent = item.text.slice(0, item.fold_at);
    if (item.fold_at < item.text.length) {
      const more = document.createElement("span");
      more.className = "li-more";
      more.textContent = "…" + out.dataset.seeMore;
      more.addEventListener("click", () => { post.textContent = item.text; });
      post.append(more);
    }
    const counter = document.createElement("p");
    counter.className = "counter" + (item.length > 3000 ? " over" : "");
    counter.textContent = `${item.length} / 3000 ${out.dataset.characters}`;
    const list = document.createElement("ul");
    list.className = "warnings";
    item.warnings.forEach((w) => list.append(Object.assign(document.createElement("li"), { className: "warning", textContent: w.message })));
    wrap.append(title, post, counter, list);
    return wrap;
  }

  async function refresh() {
    const body = values();
    if (!body.variants.length) {
      out.textContent = out.dataset.empty;
      return;
    }
    const response = await fetch("/api/v1/posts/preview", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": window.toolkit.csrfToken() },
      body: JSON.stringify(body),
    });
    const result = await response.json();
    if (!response.ok) {
      out.replaceChildren(Object.assign(document.createElement("p"), { className: "notice error", textContent: result.error.message }));
      return;
    }
    out.replaceChildren(...result.items.map((item, i) => block(item, body.variants[i])));
  }

  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 300); });
  form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(refresh, 100); });
  refresh();
})();
