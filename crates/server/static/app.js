// datahooks pages: a little progressive enhancement. Everything works without it.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("click", (event) => {
  const all = event.target.closest("[data-check-all]");
  const none = event.target.closest("[data-check-none]");
  if (!all && !none) return;
  const fieldset = event.target.closest("fieldset");
  for (const box of fieldset.querySelectorAll("input[type=checkbox]")) {
    box.checked = Boolean(all);
  }
});

// Live updates: tables marked data-live (and message rows) are refreshed from the server
// every few seconds while the page is visible.
function refresh() {
  if (document.hidden) return;
  const live = document.querySelectorAll("table[data-live][id], #messages");
  if (live.length === 0) return;
  fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
    .then((response) => (response.ok ? response.text() : null))
    .then((html) => {
      if (!html) return;
      const fresh = new DOMParser().parseFromString(html, "text/html");
      for (const table of live) {
        const next = fresh.getElementById(table.id);
        const body = table.querySelector("tbody");
        const nextBody = next && next.querySelector("tbody");
        if (body && nextBody && body.innerHTML !== nextBody.innerHTML) {
          body.innerHTML = nextBody.innerHTML;
        }
      }
    })
    .catch(() => {});
}
window.setInterval(refresh, 2000);
