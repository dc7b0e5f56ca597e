// Simpul console: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // The menu is open on wide screens (its <summary> is hidden there).
  var menu = document.querySelector("details.menu");
  if (menu && window.matchMedia("(min-width: 48rem)").matches) menu.open = true;
  // Count down the seconds left to confirm a change on probation.
  var count = document.querySelector(".countdown[data-seconds]");
  if (count) {
    var left = parseInt(count.getAttribute("data-seconds"), 10);
    var timer = setInterval(function () {
      left -= 1;
      count.textContent = String(Math.max(left, 0));
      if (left <= 0) { clearInterval(timer); setTimeout(function () { location.reload(); }, 1500); }
    }, 1000);
  }
  // Ask before anything marked as hard to undo.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
