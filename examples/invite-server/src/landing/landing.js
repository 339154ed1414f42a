// calinvite landing pages: "Select all" ticks a group's boxes in place
// (without this script the link reloads the page with them ticked).
"use strict";
document.addEventListener("click", function (ev) {
  var a = ev.target.closest ? ev.target.closest("a[data-select-all]") : null;
  if (!a) { return; }
  var group = a.closest("fieldset[data-group]");
  if (!group) { return; }
  ev.preventDefault();
  var boxes = group.querySelectorAll("input[type=checkbox][name=event]");
  var all = true;
  boxes.forEach(function (b) { if (!b.checked) { all = false; } });
  boxes.forEach(function (b) { b.checked = !all; });
});
