/* A live part of a page: an element #live[data-poll] is replaced by the partial at its data-poll
   URL every two seconds; when its data-status changes the whole page reloads (buttons and facts
   change with it). Without JavaScript such pages refresh themselves (a <noscript> meta refresh). */
(function () {
  "use strict";

  function poll(live) {
    var status = live.dataset.status;

    function tick() {
      fetch(live.dataset.poll, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("progress " + response.status);
          return response.text();
        })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector("#live");
          if (!fresh) return;
          if (fresh.dataset.status !== status && !fresh.dataset.poll) {
            window.location.reload();
            return;
          }
          status = fresh.dataset.status;
          live.replaceWith(fresh);
          live = fresh;
          if (live.dataset.poll) window.setTimeout(tick, 2000);
        })
        .catch(function () {
          window.setTimeout(tick, 5000);  // a hiccup (server restart, network): keep trying, slower
        });
    }
    window.setTimeout(tick, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.querySelector("#live[data-poll]");
    if (live) poll(live);
  });
})();
