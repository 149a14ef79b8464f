/* Interaction page: the Protected checkbox asks for confirmation in a <dialog>, and the page
   reloads itself when a request it is waiting for finishes. Without this script the page still
   works: the confirmation is an ordinary part of the form, and a reload shows the new state. */
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

  /* A request for this interaction is Queued or In Progress: poll its progress partial and reload
     once it has finished, so the locks and the Protected box show the result. */
  function reloadWhenFinished(pending) {
    var url = pending.dataset.poll;
    var failures = 0;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.text();
        })
        .then(function (html) {
          var match = /data-status="([a-z_]+)"/.exec(html);
          if (match && match[1] !== "queued" && match[1] !== "in_progress") {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, 2000);
        })
        .catch(function () {
          failures += 1;
          if (failures < 5) window.setTimeout(poll, 4000);
        });
    }
    window.setTimeout(poll, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("protection-form");
    if (form) protectionDialog(form);
    var pending = document.querySelector(".pending-request[data-poll]");
    if (pending) reloadWhenFinished(pending);
  });
})();
