// prelabel UI: keyboard labeling, the active-time timer, and the import form's column hints.
// Plain JavaScript, no build step. Everything works without it too (plain forms); this only adds speed.
(function () {
  "use strict";

  function isTyping(el) {
    if (!el || !el.matches) return false;
    return el.matches("textarea, select, [contenteditable], input:not([type=radio]):not([type=checkbox])");
  }

  function setupLabeling(form) {
    var jobs = Array.prototype.slice.call(form.querySelectorAll("fieldset.job"));
    var errorBox = form.querySelector("[data-client-error]");
    var skipForm = document.getElementById("skip-form");
    var undoForm = document.getElementById("undo-form");
    var active = 0;
    var submitting = false;

    // seconds_to_label: time the page was visible, not time spent in another tab.
    var visibleMs = 0;
    var since = document.hidden ? null : performance.now();
    document.addEventListener("visibilitychange", function () {
      if (document.hidden && since !== null) { visibleMs += performance.now() - since; since = null; }
      else if (!document.hidden && since === null) { since = performance.now(); }
    });
    function activeSeconds() {
      return (visibleMs + (since !== null ? performance.now() - since : 0)) / 1000;
    }

    function setActive(i) {
      active = Math.max(0, Math.min(i, jobs.length - 1));
      jobs.forEach(function (j, k) { j.classList.toggle("active", k === active && jobs.length > 1); });
    }
    setActive(0);
    form.addEventListener("focusin", function (e) {
      var j = e.target.closest("fieldset.job");
      if (j) setActive(jobs.indexOf(j));
    });

    function choose(input) {
      if (input.type === "checkbox") input.checked = !input.checked; else input.checked = true;
      input.focus({ preventScroll: true });
      if (errorBox) errorBox.hidden = true;
      if (input.type === "radio" && active < jobs.length - 1) setActive(active + 1);
    }

    function missingJob() {
      for (var i = 0; i < jobs.length; i++) {
        var j = jobs[i];
        if (j.dataset.required === "1" && !j.querySelector("input:checked")) return j;
      }
      return null;
    }

    form.addEventListener("submit", function (e) {
      if (submitting) { e.preventDefault(); return; }
      var missing = missingJob();
      if (missing) {
        e.preventDefault();
        if (errorBox) {
          errorBox.textContent = "Choose a category for " + missing.dataset.job +
            " (number keys or click), then press Enter.";
          errorBox.hidden = false;
        }
        setActive(jobs.indexOf(missing));
        var first = missing.querySelector("input");
        if (first) first.focus();
        return;
      }
      submitting = true;
      form.elements.namedItem("seconds").value = activeSeconds().toFixed(3);
      form.classList.add("busy");
    });
    [skipForm, undoForm].forEach(function (f) {
      if (f) f.addEventListener("submit", function (e) {
        if (submitting) { e.preventDefault(); return; }
        submitting = true;
      });
    });

    // Focus the preselected (or first) choice so the keyboard focus is visible from the start.
    var start = form.querySelector("fieldset.job input:checked") || form.querySelector("fieldset.job input");
    if (start) start.focus({ preventScroll: true });

    document.addEventListener("keydown", function (e) {
      if (e.defaultPrevented || e.isComposing || isTyping(e.target)) return;
      var key = e.key;
      if ((e.ctrlKey || e.metaKey) && (key === "z" || key === "Z")) {
        if (undoForm) { e.preventDefault(); undoForm.requestSubmit(); }
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (key === "Enter") {
        var tag = e.target && e.target.tagName;
        if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY") return;  // let the focused control act
        e.preventDefault();
        form.requestSubmit();
        return;
      }
      if (key === "Escape") {
        if (skipForm) { e.preventDefault(); skipForm.requestSubmit(); }
        return;
      }
      if (!jobs.length || key.length !== 1) return;
      var job = jobs[active];
      var k = key.toLowerCase();
      var sel = 'input[data-hotkey="' + (window.CSS && CSS.escape ? CSS.escape(k) : k) + '"]';
      // a category's own hotkey wins, then the position number, then hotkeys of the other jobs
      var input = job.querySelector(sel);
      if (!input && /^[1-9]$/.test(key)) input = job.querySelector('input[data-number="' + key + '"]');
      for (var i = 0; i < jobs.length && !input; i++) {
        input = jobs[i].querySelector(sel);
        if (input) setActive(i);
      }
      if (input) { e.preventDefault(); choose(input); }
    });
  }

  // Import form: read the chosen file's header (CSV) or first record (JSONL/JSON) and offer its columns.
  function setupImport(form) {
    var file = form.querySelector("input[type=file]");
    var list = document.getElementById("columns");
    var found = document.getElementById("columns-found");
    if (!file || !list) return;
    file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) return;
      var name = f.name.toLowerCase();
      f.slice(0, 65536).text().then(function (head) {
        var cols = [];
        if (/\.(jsonl|ndjson|json)$/.test(name)) {
          var line = head.replace(/^\s*\[/, "").split("\n")[0].replace(/,\s*$/, "");
          try { cols = Object.keys(JSON.parse(line)); } catch (err) { cols = []; }
        } else {
          cols = parseCsvHeader(head);
        }
        list.innerHTML = "";
        cols.forEach(function (c) {
          var o = document.createElement("option");
          o.value = c;
          list.appendChild(o);
        });
        if (found) found.textContent = cols.length ? "Columns in this file: " + cols.join(", ") : "";
        var text = form.querySelector("#text_column");
        if (text && cols.length && cols.indexOf(text.value) < 0) {
          var guess = cols.filter(function (c) { return /^(text|content|body|sentence|message)$/i.test(c); })[0];
          if (guess) text.value = guess;
        }
        var id = form.querySelector("#id_column");
        if (id && !id.value) {
          var idGuess = cols.filter(function (c) { return /^(id|external_id|uid|key)$/i.test(c); })[0];
          if (idGuess) id.value = idGuess;
        }
      });
    });
  }

  function parseCsvHeader(text) {
    var out = [], cur = "", q = false;
    for (var i = 0; i < text.length; i++) {
      var ch = text[i];
      if (q) {
        if (ch === '"' && text[i + 1] === '"') { cur += '"'; i++; }
        else if (ch === '"') q = false;
        else cur += ch;
      } else if (ch === '"') q = true;
      else if (ch === ",") { out.push(cur); cur = ""; }
      else if (ch === "\n" || ch === "\r") break;
      else cur += ch;
    }
    out.push(cur);
    return out.map(function (c) { return c.replace(/^\ufeff/, "").trim(); }).filter(Boolean);
  }

  function init() {
    var form = document.querySelector("[data-label-form]");
    if (form) setupLabeling(form);
    else {
      // the "nothing left" page still supports undo with the keyboard
      var undoForm = document.getElementById("undo-form");
      if (undoForm) document.addEventListener("keydown", function (e) {
        if ((e.ctrlKey || e.metaKey) && (e.key === "z" || e.key === "Z") && !isTyping(e.target)) {
          e.preventDefault(); undoForm.requestSubmit();
        }
      });
    }
    var imp = document.querySelector("[data-import-form]");
    if (imp) setupImport(imp);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
