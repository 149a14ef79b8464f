/* Artifacts Management Requests: clickable list rows, and a detail page that asks before leaving while
   the request runs (htmx refreshes it). The create form needs no script of its own: htmx fetches its
   dependent fields and impact preview from the server (see request_form.html). */
(function () {
  "use strict";

  /* List: a click anywhere on a row opens the request (the Id cell is the real link). */
  function clickableRows() {
    document.querySelectorAll("tr.rowlink[data-href]").forEach(function (row) {
      row.addEventListener("click", function (event) {
        if (event.target.closest("a, button, input, select")) return;
        window.location.href = row.dataset.href;
      });
    });
  }

  /* Detail: while Queued or In Progress, htmx refreshes the live part (see _live.html) and has the
     page reloaded when the status changes. Leaving the page meanwhile asks first (the manual). */
  function guardWhileRunning() {
    var guarded = true;

    // The manual: leaving a page whose request is processing offers to open a new tab instead.
    function onLinkClick(event) {
      var link = event.target.closest("a[href]");
      if (!guarded || !link || link.target || event.defaultPrevented) return;
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;  // already a new tab
      event.preventDefault();
      if (window.confirm("This request is still processing. Open the page in a new tab and keep this one?")) {
        window.open(link.href, "_blank");
      }
    }
    function onBeforeUnload(event) {
      if (!guarded) return undefined;
      event.preventDefault();
      event.returnValue = "";
      return "";
    }
    function release() {
      guarded = false;
    }
    document.addEventListener("click", onLinkClick);
    window.addEventListener("beforeunload", onBeforeUnload);
    document.addEventListener("submit", release);  // Cancel / Log out are deliberate
    // The server's reload after a status change is not the user leaving.
    document.body.addEventListener("htmx:beforeOnLoad", function (event) {
      if (event.detail.xhr.getResponseHeader("HX-Refresh") === "true") release();
    });
    // Once the live part stops polling (finished), leaving is free.
    document.body.addEventListener("htmx:afterSwap", function () {
      var live = document.getElementById("live");
      if (live && !live.hasAttribute("hx-get")) release();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    clickableRows();
    if (document.querySelector("#live[hx-get]")) guardWhileRunning();
  });
})();
