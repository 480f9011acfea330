// Live progress of the broadcasts on /console/broadcasts and /console/broadcasts/email.
// The history table names its JSON endpoint (data-progress); rows still sending carry
// data-live. While any is in progress this asks every 2 s and rewrites the cells named by
// data-k in place (nothing else on the page: a form being written is left alone), then stops.
// Without this script the page works as before: its refresh link reloads it.
(function () {
  "use strict";
  var table = document.querySelector("table[data-progress]");
  if (!table || !window.fetch) { return; }
  var url = table.getAttribute("data-progress");
  var every = 2000;
  var watched = {};
  var rows = table.querySelectorAll("tr[data-id]");
  for (var i = 0; i < rows.length; i++) {
    if (rows[i].hasAttribute("data-live")) { watched[rows[i].getAttribute("data-id")] = true; }
  }
  if (Object.keys(watched).length === 0) { return; }
  var note = document.getElementById("live-note");
  if (note) { note.hidden = false; }

  function setText(row, key, value) {
    var cell = row.querySelector('[data-k="' + key + '"]');
    if (cell && cell.textContent !== String(value)) { cell.textContent = String(value); }
  }

  function update(item) {
    var row = table.querySelector('tr[data-id="' + item.id + '"]');
    if (!row) { return; }
    var keys = Object.keys(item);
    for (var k = 0; k < keys.length; k++) {
      var key = keys[k];
      if (key === "id" || key === "in_progress") { continue; }
      if (key === "status") {
        setText(row, "status", table.getAttribute("data-label-" + item.status) || item.status);
      } else {
        setText(row, key, item[key]);
      }
    }
    var bar = row.querySelector("progress");
    if (bar && typeof item.settled === "number") {
      bar.max = Math.max(item.recipients, 1);
      bar.value = item.settled;
      setText(row, "percent", percent(item.settled, item.recipients));
      setText(row, "progress", item.settled + " / " + item.recipients);
    }
    if (item.pending === 0) {  // nothing left to cancel: its button goes (unless in use)
      var form = row.querySelector("form[data-while-pending]");
      if (form && !form.contains(document.activeElement)) { form.remove(); }
    }
    if (!item.in_progress) { row.removeAttribute("data-live"); }
  }

  function percent(part, whole) {
    return whole > 0 ? Math.floor((100 * part) / whole) + "%" : "";
  }

  function poll() {
    var ids = Object.keys(watched).join(",");
    fetch(url + "?ids=" + encodeURIComponent(ids), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error("progress: " + response.status); }
      return response.json();
    }).then(function (data) {
      var running = false;
      watched = {};
      for (var j = 0; j < data.broadcasts.length; j++) {
        var item = data.broadcasts[j];
        update(item);
        if (item.in_progress) { watched[item.id] = true; running = true; }
      }
      if (running) {
        window.setTimeout(poll, every);
      } else if (note) {
        note.hidden = true;
      }
    }).catch(function () {
      if (note) { note.hidden = true; }  // signed out or offline: the refresh link remains
    });
  }
  window.setTimeout(poll, every);
})();
