// Refreshes the queue counts in place: fetches the live fragment every
// data-every milliseconds while the page is visible, and swaps it in.
(function () {
  "use strict";
  var box = document.getElementById("refresh");
  var state = document.getElementById("refresh-state");
  if (!box) return;
  var src = box.getAttribute("data-src");
  var every = parseInt(box.getAttribute("data-every"), 10) || 5000;
  var busy = false;
  function tick() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.text().then(function (t) { return { ok: r.ok, body: t }; }); })
      .then(function (res) {
        if (!res.ok) throw new Error("status");
        box.innerHTML = res.body;
        state.textContent = "Updated " + new Date().toLocaleTimeString() + "; counts refresh every " + every / 1000 + " s.";
      })
      .catch(function () { state.textContent = "Could not refresh the counts; retrying."; })
      .then(function () { busy = false; });
  }
  setInterval(tick, every);
  document.addEventListener("visibilitychange", tick);
})();
