// costcap dashboard: the live refresh of <main id="panels">, and a tidy address for the filters.
// Every URL here is relative to the page: the same script works at / and under /dashboard/.
(function () {
  "use strict";

  var main = document.getElementById("panels");
  var form = document.getElementById("filters");
  var status = document.getElementById("refresh-status");
  var seconds = Number(document.body.getAttribute("data-refresh"));
  var idle = status ? status.textContent : "";
  var busy = false;

  // A GET form sends its empty fields too (?since=&user=…): leave them out of the address.
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (String(value).trim() !== "") {
          params.append(name, String(value));
        }
      });
      var query = params.toString();
      window.location.assign(query ? "?" + query : "./");
    });
  }

  if (!main || !(seconds > 0)) {
    return;
  }

  function say(text, failed) {
    if (status) {
      status.textContent = text;
      status.classList.toggle("failed", Boolean(failed));
    }
  }

  // The text of an HTML fragment, read without running or loading anything in it.
  function textOf(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content.textContent.replace(/\s+/g, " ").trim();
  }

  // Each table's scroll position, by panel, so that a swap does not jump the reader back.
  function scrolls() {
    var kept = {};
    main.querySelectorAll("[data-panel] .table-wrap").forEach(function (wrap, i) {
      kept[i] = wrap.scrollTop;
    });
    return kept;
  }

  function restore(kept) {
    main.querySelectorAll("[data-panel] .table-wrap").forEach(function (wrap, i) {
      if (kept[i]) {
        wrap.scrollTop = kept[i];
      }
    });
  }

  function swap(response, body) {
    var kept = scrolls();
    main.innerHTML = body;
    main.setAttribute("data-calls", response.headers.get("x-costcap-calls") || "0");
    main.setAttribute(
      "data-refreshed-at",
      response.headers.get("x-costcap-refreshed-at") || new Date().toISOString()
    );
    restore(kept);
  }

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch("panels" + window.location.search, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (body) {
          if (response.ok) {
            swap(response, body);
            say(idle, false);
          } else if (main.querySelector("[data-panel]")) {
            // Keep the last figures on screen and say why they are not new.
            say(textOf(body) + " (figures as of " + main.getAttribute("data-refreshed-at") + ")", true);
          } else {
            swap(response, body);
            say(idle, true);
          }
        });
      })
      .catch(function () {
        say("The dashboard cannot be reached; trying again every " + seconds + " s.", true);
      })
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
})();
