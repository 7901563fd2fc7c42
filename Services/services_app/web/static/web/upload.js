// Upload page: every dropped or chosen file is sent on its own, so each gets its own
// conversion job and its result row appears (and then follows the job) as soon as it is ready.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const drop = document.getElementById("drop");
  const rows = document.getElementById("result-rows");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function errorRow(name, message) {
    const tr = document.createElement("tr");
    tr.className = "upload-row status-failed";
    const cells = [name, "not uploaded", "", message];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    rows.prepend(tr);
  }

  async function send(file, name) {
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("path", name);
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: body,
        headers: { "X-CSRFToken": csrf, "HX-Request": "true" },
        credentials: "same-origin",
      });
    } catch (err) {
      errorRow(name, "the upload did not reach the server: " + err);
      return;
    }
    const html = await response.text();
    if (!response.ok) {
      const tmp = document.createElement("div");
      tmp.innerHTML = html;
      errorRow(name, tmp.textContent.trim() || "the server answered " + response.status);
      return;
    }
    const tbody = document.createElement("tbody");
    tbody.innerHTML = html.trim();
    const row = tbody.firstElementChild;
    rows.prepend(row);
    if (window.htmx) window.htmx.process(row);
  }

  function readEntry(entry, prefix, out) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (f) { out.push([f, prefix + f.name]); resolve(); }, function () { resolve(); });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const all = [];
        (function next() {
          reader.readEntries(async function (batch) {
            if (!batch.length) {
              for (const e of all) await readEntry(e, prefix + entry.name + "/", out);
              resolve();
            } else { all.push(...batch); next(); }
          }, function () { resolve(); });
        })();
      } else resolve();
    });
  }

  async function sendAll(pairs) {
    for (const [file, name] of pairs) await send(file, name);
  }

  ["dragenter", "dragover"].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    drop.addEventListener(t, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", async function (e) {
    e.preventDefault();
    const pairs = [];
    const items = e.dataTransfer.items ? Array.from(e.dataTransfer.items) : [];
    const entries = items.map(function (i) { return i.webkitGetAsEntry ? i.webkitGetAsEntry() : null; });
    if (entries.length && entries.every(Boolean)) {
      for (const entry of entries) await readEntry(entry, "", pairs);
    } else {
      for (const f of Array.from(e.dataTransfer.files)) pairs.push([f, f.name]);
    }
    sendAll(pairs);
  });
  function take(input) {
    const pairs = Array.from(input.files).map(function (f) { return [f, f.webkitRelativePath || f.name]; });
    input.value = "";
    if (pairs.length) sendAll(pairs);
  }
  for (const id of ["files", "folder"]) {
    const input = document.getElementById(id);
    input.addEventListener("change", function () { take(input); });
    // Files chosen while this script was still loading (the inputs work before it runs): sent now.
    if (input.files && input.files.length) take(input);
  }
})();
