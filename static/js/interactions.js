/* Interactions list: row selection for Protect / Release. The boxes belong to the GET form
   #bulk-form (HTML `form` attribute), which opens the Artifacts Management Request form prefilled;
   that form and its service check everything again (the 200 limit included). */
(function () {
  "use strict";

  var form = document.getElementById("bulk-form");
  if (!form) return;
  var max = parseInt(form.dataset.max, 10) || 200;
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.row-select"));
  var all = document.getElementById("select-all");
  var count = document.getElementById("selection-count");
  var note = document.getElementById("selection-note");
  var buttons = form.querySelectorAll("button[type=submit]");
  var defaultNote = note ? note.textContent : "";

  function selected() {
    return boxes.filter(function (box) { return box.checked; });
  }

  function update(message) {
    var n = selected().length;
    count.textContent = n + " selected";
    buttons.forEach(function (button) { button.disabled = n === 0; });
    if (all) {
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
    if (note) {
      note.textContent = message || defaultNote;
      note.classList.toggle("error", Boolean(message));
    }
  }

  function tooMany() {
    return "At most " + max + " interactions per request: the others were not selected.";
  }

  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      if (box.checked && selected().length > max) {
        box.checked = false;
        update(tooMany());
        return;
      }
      update();
    });
  });

  if (all) {
    all.addEventListener("change", function () {
      var room = max;
      var refused = false;
      boxes.forEach(function (box) {
        if (!all.checked) {
          box.checked = false;
        } else if (room > 0) {
          box.checked = true;
          room -= 1;
        } else {
          box.checked = false;
          refused = true;
        }
      });
      update(refused ? tooMany() : "");
    });
  }

  form.addEventListener("submit", function (event) {
    var n = selected().length;
    if (n === 0 || n > max) {
      event.preventDefault();
      update(n ? tooMany() : "Select at least one interaction first.");
    }
  });

  update();
})();

/* Interactions list: the GUID column's Copy buttons (hidden without JavaScript, where the full id is
   in the cell's hover text and the row's link). */
(function () {
  "use strict";

  function copied(button, text) {
    var label = button.textContent;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 1500);
  }

  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.dataset.copy).then(
        function () { copied(button, "Copied"); },
        function () { copied(button, "Copy failed"); }
      );
    });
  });
})();

/* Interactions list: "Export content" exports the selected rows when some are selected (their GUIDs
   are added to the form as it is sent), else every interaction the current filters find. */
(function () {
  "use strict";

  var form = document.getElementById("export-bundle-form");
  if (!form) return;
  form.addEventListener("submit", function () {
    form.querySelectorAll("input[name=interaction_ids]").forEach(function (input) { input.remove(); });
    document.querySelectorAll("input.row-select:checked").forEach(function (box) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "interaction_ids";
      input.value = box.value;
      form.appendChild(input);
    });
  });
})();
