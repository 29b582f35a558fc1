// Follows the running stage's log on a run page: polls /live with the byte offset read so far and
// appends what grew, as text (never HTML). The page keeps at most KEEP characters of the log.
(function () {
  "use strict";
  var pre = document.getElementById("live-log");
  if (!pre) return;
  var KEEP = 512 * 1024;
  var url = pre.getAttribute("data-url");
  var key = pre.getAttribute("data-key");
  var offset = parseInt(pre.getAttribute("data-offset"), 10) || 0;
  var active = pre.getAttribute("data-active") === "true";
  var badge = document.getElementById("run-status");
  var label = document.getElementById("live-label");

  function poll() {
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    fetch(url + sep + "key=" + encodeURIComponent(key || "") + "&offset=" + offset, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (data.key !== key) { // the run moved to another stage: start its log from the top
          key = data.key; pre.textContent = ""; if (label) label.textContent = data.label || "";
        }
        if (data.text) {
          pre.appendChild(document.createTextNode(data.text));
          if (pre.textContent.length > KEEP) pre.textContent = pre.textContent.slice(-KEEP);
          pre.scrollTop = pre.scrollHeight;
        }
        offset = data.end;
        if (badge) {
          badge.textContent = data.statusLabel;
          badge.setAttribute("data-status", data.status);
          badge.className = "status status-" + data.status.toLowerCase().replace(/ /g, "-");
        }
        var more = data.end < data.size;
        active = data.active;
        if (active || more) setTimeout(poll, more ? 50 : 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  if (active) setTimeout(poll, 1000);
})();
