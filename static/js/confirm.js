/* Forms that ask before they submit: <form data-confirm="Remove … ?">. The question is an
   autoescaped attribute in the template, not script, so the page needs no inline JavaScript (the
   Content-Security-Policy forbids it). Without this script the form simply submits. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
