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
      li.innerHTML = '<span class="name"></span><progress max="100" value="0"></progress><span class="status">Waiting…</span>';
      li.querySelector(".name").textContent = file.name + " (" + humanSize(file.size) + ")";
      list.appendChild(li);
      return li;
    }

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
    const question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    const uploader = document.getElementById("upload");
    if (uploader) setupUploader(uploader);
  });
})();
