/* Interaction page: the Protected checkbox asks for confirmation in a <dialog> (htmx reloads the
   page when a request it is waiting for finishes). Without this script the page still works: the
   confirmation is an ordinary part of the form, and a reload shows the new state. */
(function () {
  "use strict";

  /* Protected: ticking or unticking opens the dialog holding the form's confirmation fieldset (the
     seed's confirmation text, and the optional expiry date for Add Lock). The fieldset stays inside
     the form, so its inputs are submitted with it. Cancel puts the checkbox back. */
  function protectionDialog(form) {
    var box = form.querySelector("#id_protected");
    var fieldset = form.querySelector("#protection-confirm");
    var dialog = form.querySelector("#protection-dialog");
    if (!box || !fieldset || !dialog || typeof dialog.showModal !== "function") return;
    var initial = box.checked;
    var partial = box.dataset.partial === "true";
    var submitting = false;

    function restore() {
      box.checked = initial;
      box.indeterminate = partial && !initial;  // "partly protected" shows as neither state
    }

    dialog.appendChild(fieldset);
    fieldset.querySelectorAll(".nojs-help").forEach(function (help) { help.hidden = true; });
    var cancel = fieldset.querySelector("#protection-cancel");
    cancel.hidden = false;
    cancel.addEventListener("click", function () { dialog.close(); });
    restore();

    box.addEventListener("change", function () {
      if (box.checked === initial) { restore(); return; }
      fieldset.querySelector("#id_confirmed").checked = false;
      dialog.showModal();
    });
    form.addEventListener("submit", function () { submitting = true; });
    dialog.addEventListener("close", function () { if (!submitting) restore(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("protection-form");
    if (form) protectionDialog(form);
  });
})();
