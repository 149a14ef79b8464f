/* Artifacts Management Requests: fields that follow the request type, clickable list rows, and a
   detail page that asks before leaving while the request runs (htmx refreshes it). The server validates on its own. */
(function () {
  "use strict";

  /* Create form: show the fields the chosen request / artifact type uses. Hidden fields are also
     disabled so that stale values (a date typed before switching to Delete) are not submitted. */
  function followChoices(form) {
    var requestType = form.querySelector("#id_request_type");
    var artifactType = form.querySelector("#id_artifact_type");

    function toggle(element, visible) {
      element.hidden = !visible;
      element.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !visible;
      });
    }

    function update() {
      form.querySelectorAll("[data-show-type]").forEach(function (el) {
        var shown = el.dataset.showType.split(" ").indexOf(requestType.value) !== -1;
        if (shown && el.dataset.showChecked) {
          shown = document.getElementById(el.dataset.showChecked).checked;
        }
        toggle(el, shown);
      });
      form.querySelectorAll("[data-show-artifact]").forEach(function (el) {
        toggle(el, el.dataset.showArtifact === artifactType.value);
      });
    }

    form.addEventListener("change", update);
    update();
  }

  /* Create form: the impact preview ("This will delete 12 artifacts of 3 interactions …") follows
     the inputs; the Submit button looks destructive for Delete and Remove Lock. Without JavaScript
     the "Preview impact" button shows the same text. */
  function followImpact(form) {
    var holder = document.getElementById("request-impact");
    var submit = document.getElementById("request-submit");
    var requestType = form.querySelector("#id_request_type");
    var timer = null;
    var sent = 0;

    function refresh() {
      var mine = ++sent;
      fetch(holder.dataset.impactUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("impact " + response.status);
          return response.text();
        })
        .then(function (html) {
          if (mine === sent) holder.innerHTML = html;  // only the answer to the latest inputs
        })
        .catch(function () {});
    }
    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 400);
    }
    function style() {
      var destructive = submit.dataset.destructiveTypes.split(" ").indexOf(requestType.value) !== -1;
      submit.classList.toggle("danger", destructive);
    }
    /* "201 / 200": distinct ids entered, split as the server splits them. */
    var ids = form.querySelector("#id_interaction_ids");
    var counter = document.getElementById("ids-count");
    function countIds() {
      if (!ids || !counter) return;
      var seen = {};
      ids.value.split(/[\s,;]+/).forEach(function (token) { if (token) seen[token.toLowerCase()] = true; });
      var n = Object.keys(seen).length;
      document.getElementById("ids-count-value").textContent = String(n);
      counter.classList.toggle("over", n > parseInt(counter.dataset.max, 10));
    }
    if (ids) ids.addEventListener("input", countIds);
    form.addEventListener("change", function () { style(); later(); });
    form.addEventListener("input", later);
    style();
  }

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
    var form = document.getElementById("request-form");
    if (form) {
      followChoices(form);
      followImpact(form);
    }
    clickableRows();
    if (document.querySelector("#live[hx-get]")) guardWhileRunning();
  });
})();
