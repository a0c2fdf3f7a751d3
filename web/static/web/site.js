// Tagloop's small scripts: CSRF for fetch/XHR, and the drag-and-drop uploader.
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function humanSize(bytes) {
    return bytes > 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function setupUploader(root) {
    const endpoint = root.dataset.endpoint;
    const maxBytes = parseFloat(root.dataset.maxBytes) * 1048576;
    const input = root.querySelector("#file-input");
    const zone = root.querySelector("#dropzone");
    const list = root.querySelector("#upload-list");
    const queue = [];
    let running = 0;
    const PARALLEL = 3;

    function row(file) {
      const li = document.createElement("li");
      li.className = "upload-item";
      li.innerHTML = '<span class="thumb" aria-hidden="true"></span><span class="name"></span><progress max="100" value="0"></progress><span class="status">Waiting…</span>';
      li.querySelector(".name").textContent = file.name + " (" + humanSize(file.size) + ")";
      li.dataset.fileName = file.name;
      list.appendChild(li);
      return li;
    }

    function fileName(li) { return li.dataset.fileName || ""; }

    function finish(li, ok, message, photo) {
      li.classList.add(ok ? "done" : "rejected");
      const status = li.querySelector(".status");
      status.textContent = message;
      if (photo) {
        const link = document.createElement("a");
        link.href = "/p/" + photo.id + "/";
        link.textContent = " Open";
        status.appendChild(link);
      }
      if (ok && photo && photo.thumbnail_url) {
        // The server's own thumbnail (EXIF-rotated, as the grid shows it), so the list shows
        // which photo is which as soon as it is in, not only a file name.
        const img = document.createElement("img");
        img.src = photo.thumbnail_url;
        img.alt = photo.caption || fileName(li);
        li.querySelector(".thumb").appendChild(img);
      }
      if (ok && photo && window.htmx) {
        // The photo's tag chips, live: they poll while the model works, then can be fixed here.
        const tags = document.createElement("div");
        tags.className = "upload-tags";
        tags.setAttribute("hx-get", "/p/" + photo.id + "/tags-fragment/");
        tags.setAttribute("hx-trigger", "load");
        li.appendChild(tags);
        window.htmx.process(tags);
      }
      li.querySelector("progress").value = 100;
      running -= 1;
      next();
    }

    function send(file, li) {
      running += 1;
      const form = new FormData();
      form.append("image", file);
      form.append("visibility", root.querySelector("#upload-visibility").value);
      form.append("tags", root.querySelector("#upload-tags").value);
      form.append("show_location", root.querySelector("#upload-show-location").checked ? "true" : "false");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", endpoint);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) {
          li.querySelector("progress").value = Math.round((event.loaded / event.total) * 100);
          li.querySelector(".status").textContent = "Uploading… " + Math.round((event.loaded / event.total) * 100) + "%";
        }
      };
      xhr.onload = function () {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
        if (xhr.status === 201) finish(li, true, "Uploaded.", body);
        else finish(li, false, body.detail || "Upload failed (HTTP " + xhr.status + ").", body.existing_id ? { id: body.existing_id } : null);
      };
      xhr.onerror = function () { finish(li, false, "Network error: the upload did not reach the server.", null); };
      li.querySelector(".status").textContent = "Uploading…";
      xhr.send(form);
    }

    function next() {
      while (running < PARALLEL && queue.length) {
        const item = queue.shift();
        send(item.file, item.li);
      }
    }

    function add(files) {
      for (const file of files) {
        const li = row(file);
        if (file.size > maxBytes) {
          li.classList.add("rejected");
          li.querySelector(".status").textContent = "Too large: the limit is " + humanSize(maxBytes) + ".";
          continue;
        }
        queue.push({ file: file, li: li });
      }
      next();
    }

    input.addEventListener("change", function () { add(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) { add(event.dataTransfer.files); });
    zone.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
    });
  }

  // Forms that ask first (data-confirm): nginx's Content-Security-Policy blocks inline onsubmit
  // handlers, which would delete a photo without asking.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    let question = form.getAttribute && form.getAttribute("data-confirm");
    // Bulk actions ask only when the chosen action deletes.
    const chosen = form.elements && form.elements.namedItem("action");
    if (!question && chosen && chosen.value === "delete") question = form.getAttribute("data-confirm-delete");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // htmx swaps only 2xx answers. A refused comment (400 empty or too long, 429 too fast) comes
  // back as the section with the reason in it, so areas marked data-swap-refusals show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const status = event.detail.xhr.status;
    const target = event.detail.target;
    if ((status === 400 || status === 429) && target && target.closest && target.closest("[data-swap-refusals]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function typing(event) {
    const t = event.target;
    return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].indexOf(t.tagName) >= 0);
  }

  // "Help the model": Y, N and S answer the current card (the focused one in the grid).
  function setupHelp(root) {
    document.addEventListener("keydown", function (event) {
      if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key.toLowerCase();
      if (["y", "n", "s"].indexOf(key) < 0) return;
      const focused = document.activeElement && document.activeElement.closest(".help-card:not(.answered)");
      const card = focused || root.querySelector(".help-card:not(.answered)");
      const button = card && card.querySelector('button[data-key="' + key + '"]');
      if (button) { event.preventDefault(); button.click(); }
    });
    root.addEventListener("htmx:afterSettle", function () {
      const next = root.querySelector(".help-card:not(.answered)");
      if (next) next.focus({ preventScroll: root.dataset.view === "grid" });
    });
  }

  // A lightbox over any gallery: arrows move through the cards loaded so far, Escape closes.
  function setupLightbox(grid) {
    const box = document.createElement("div");
    box.className = "lightbox";
    box.hidden = true;
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-label", "Photo viewer");
    box.innerHTML = '<button class="lb-close" aria-label="Close (Escape)">×</button>' +
      '<button class="lb-prev" aria-label="Previous photo (left arrow)">‹</button>' +
      '<figure><img alt=""><figcaption><span class="lb-text"></span> <a class="lb-open">Open photo page</a></figcaption></figure>' +
      '<button class="lb-next" aria-label="Next photo (right arrow)">›</button>';
    document.body.appendChild(box);
    const img = box.querySelector("img");
    let current = null;
    let opener = null;

    function cards() { return Array.prototype.slice.call(grid.querySelectorAll(".card")); }
    function show(card) {
      current = card;
      const thumb = card.querySelector("img");
      const link = card.querySelector("a");
      img.src = thumb.getAttribute("src").replace("/grid", "/display");
      img.alt = thumb.alt;
      box.querySelector(".lb-text").textContent = thumb.alt;
      box.querySelector(".lb-open").href = link.getAttribute("href");
      box.hidden = false;
      box.dataset.photoId = card.dataset.photoId;
      box.querySelector(".lb-close").focus();
    }
    function step(delta) {
      const all = cards();
      const at = all.indexOf(current);
      if (at >= 0 && all[at + delta]) show(all[at + delta]);
    }
    function close() {
      box.hidden = true;
      img.removeAttribute("src");
      if (opener) opener.focus();
    }
    grid.addEventListener("click", function (event) {
      const link = event.target.closest(".card > a");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      opener = link;
      show(link.closest(".card"));
    });
    box.querySelector(".lb-close").addEventListener("click", close);
    box.querySelector(".lb-prev").addEventListener("click", function () { step(-1); });
    box.querySelector(".lb-next").addEventListener("click", function () { step(1); });
    box.addEventListener("click", function (event) { if (event.target === box) close(); });
    document.addEventListener("keydown", function (event) {
      if (box.hidden) return;
      if (event.key === "Escape") close();
      else if (event.key === "ArrowRight") step(1);
      else if (event.key === "ArrowLeft") step(-1);
      else return;
      event.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const uploader = document.getElementById("upload");
    if (uploader) setupUploader(uploader);
    const help = document.getElementById("help");
    if (help) setupHelp(help);
    const grid = document.getElementById("grid");
    if (grid) setupLightbox(grid);
  });
})();
