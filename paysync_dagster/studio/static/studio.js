// The studio's pages work as plain forms; this adds validation as you type, the preview and table rows.
(function () {
  "use strict";
  var form = document.getElementById("mapping-form");
  if (!form) { return; }
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var timer = null;
  var asked = 0;

  function body() { return new URLSearchParams(new FormData(form)); }

  function post(url) {
    return fetch(url, {method: "POST", body: body(), credentials: "same-origin",
                       headers: {"X-CSRF-Token": token, "X-Requested-With": "studio"}});
  }

  function showErrors(result) {
    form.querySelectorAll(".error").forEach(function (span) {
      if (span.id !== "error-note") { span.textContent = ""; }
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    Object.keys(result.errors).forEach(function (name) {
      var span = document.getElementById("error-" + name);
      var input = document.getElementById(name);
      if (span) { span.textContent = result.errors[name].join("; "); }
      if (input) { input.setAttribute("aria-invalid", "true"); }
      if (!span) { result.general = result.general.concat(result.errors[name]); }
    });
    var general = document.getElementById("general-errors");
    general.textContent = result.general.join("; ");
    general.hidden = result.general.length === 0;
    form.dataset.valid = result.valid ? "yes" : "no";
  }

  function validate() {
    var mine = ++asked;
    form.dataset.validating = "yes";
    post("/mapping/validate").then(function (r) { return r.json(); }).then(function (result) {
      if (mine === asked) { showErrors(result); form.dataset.validating = "no"; }
    });
  }

  form.addEventListener("input", function (event) {
    if (event.target.id === "note" || event.target.id === "preview_ids") { return; }
    clearTimeout(timer);
    timer = setTimeout(validate, 250);
  });
  form.addEventListener("change", function (event) {
    if (event.target.tagName === "SELECT" && event.target.id !== "preview_day") { clearTimeout(timer); validate(); }
  });

  document.getElementById("preview-button").addEventListener("click", function () {
    var target = document.getElementById("preview");
    target.setAttribute("aria-busy", "true");
    target.textContent = "Reading the payments and applying both sets of rules…";
    post("/mapping/preview").then(function (r) { return r.text(); }).then(function (html) {
      target.innerHTML = html;
      target.removeAttribute("aria-busy");
      var only = document.getElementById("only-changed");
      if (only) {
        only.addEventListener("change", function () {
          document.getElementById("preview-table").classList.toggle("only-changed", only.checked);
        });
      }
    });
  });

  form.querySelectorAll("button.add-row").forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.dataset.table;
      var tbody = document.getElementById("table-" + name).tBodies[0];
      var last = tbody.rows[tbody.rows.length - 1];
      var index = tbody.rows.length;
      var row = last.cloneNode(true);
      row.querySelectorAll("input, select, span.error").forEach(function (el) {
        var pattern = new RegExp("^(error-)?" + name.replace(/\./g, "\\.") + "\\.\\d+\\.");
        ["id", "name"].forEach(function (attr) {
          var v = el.getAttribute(attr);
          if (v) { el.setAttribute(attr, v.replace(pattern, function (m, e) { return (e || "") + name + "." + index + "."; })); }
        });
        if (el.tagName === "INPUT") { el.value = ""; }
        if (el.tagName === "SELECT") { el.selectedIndex = 0; }
        if (el.tagName === "SPAN") { el.textContent = ""; }
      });
      tbody.appendChild(row);
    });
  });
})();
