"use strict";
// Blurred previews reveal on click (and hide again on a second click).
// No network, no dynamic HTML: only class changes on existing elements.
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target && target.classList && target.classList.contains("preview")) {
    var shown = target.classList.toggle("revealed");
    target.setAttribute("aria-pressed", shown ? "true" : "false");
    target.setAttribute("title", shown ? "Click to blur again" : "Click to reveal");
  }
});
