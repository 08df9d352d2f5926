/* Progressive enhancement only: every page works without this file. */
(function () {
  "use strict";

  // the error summary takes the focus, so screen readers start there
  var summary = document.querySelector("[data-focus-on-load]");
  if (summary) { summary.focus(); }

  // offer only the categories of the chosen Inspektorat
  var tenant = document.getElementById("f-tenant");
  var category = document.getElementById("f-category");
  function filterCategories() {
    if (!tenant || !category) { return; }
    var chosen = tenant.value;
    Array.prototype.forEach.call(category.options, function (option) {
      if (!option.value) { return; }
      var offered = !chosen || (" " + option.getAttribute("data-tenants") + " ").indexOf(" " + chosen + " ") >= 0;
      option.hidden = !offered;
      option.disabled = !offered;
      if (!offered && option.selected) { category.value = ""; }
    });
  }
  if (tenant && category) { tenant.addEventListener("change", filterCategories); filterCategories(); }

  // identity fields only when "confidential" is chosen; hidden fields are disabled, so never sent
  var reveal = document.querySelector("[data-reveals]");
  if (reveal) {
    var panel = document.getElementById(reveal.getAttribute("data-reveals"));
    var radios = document.querySelectorAll("input[name='" + reveal.name + "']");
    var sync = function () {
      var show = reveal.checked;
      panel.hidden = !show;
      Array.prototype.forEach.call(panel.querySelectorAll("input, textarea"), function (el) { el.disabled = !show; });
    };
    Array.prototype.forEach.call(radios, function (radio) { radio.addEventListener("change", sync); });
    sync();
  }

  // a print button where printing is possible
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    if (typeof window.print !== "function") { return; }
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
}());
