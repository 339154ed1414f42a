// calinvite console, landing pages: "Copy" buttons next to read-only
// links, and a preview that follows the page form as it is typed in.
// Without this script the links are selectable text and the form's
// "Preview" button shows the preview.
"use strict";
(function () {
  function copied(status, text) {
    if (status) { status.textContent = text; }
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    var status = document.getElementById(id + "-status");
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var fallback = function () {
        input.focus();
        input.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        copied(status, ok ? "Copied." : "Selected: press Ctrl+C (or ⌘C) to copy.");
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(function () {
          copied(status, "Copied.");
        }, fallback);
      } else {
        fallback();
      }
    });
  });

  var form = document.querySelector("form[data-preview-form]");
  var frame = document.querySelector("iframe[data-preview-frame]");
  if (!form || !frame || !window.URLSearchParams || !window.FormData) { return; }
  var base = frame.getAttribute("data-preview-base");
  var timer = null;
  function refresh() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrf" && typeof value === "string") { params.append(key, value); }
    });
    var src = base + "?" + params.toString();
    if (frame.getAttribute("src") !== src) { frame.setAttribute("src", src); }
  }
  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 400);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
