/* Simpul captive portal: when the video starts (or cannot play), ask the server for a watch token,
   count down, then unlock the Continue button. The server enforces the time; this is only UX.
   Plain ES5 so that old Android browsers and the iOS captive browser run it. */
(function () {
  "use strict";
  var form = document.getElementById("grant");
  if (!form) { return; }
  var button = document.getElementById("grant-button");
  var note = document.getElementById("countdown");
  var video = document.getElementById("welcome-video");
  var tokenField = form.elements.namedItem("token");
  var langField = form.elements.namedItem("lang");
  var waitText = form.getAttribute("data-wait-text") || "{n}";
  var readyText = form.getAttribute("data-ready-text") || "";
  var failText = form.getAttribute("data-fail-text") || "";
  var started = false;
  var attempts = 0;

  function unlock(text) {
    button.disabled = false;
    note.textContent = text;
  }

  function countDown(seconds) {
    var end = Date.now() + Math.max(0, seconds) * 1000;
    function tick() {
      var left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0) { unlock(readyText); return; }
      note.textContent = waitText.replace("{n}", String(left));
      setTimeout(tick, 500);
    }
    tick();
  }

  function retry() {
    attempts += 1;
    if (attempts < 4) { setTimeout(requestToken, 2000 * attempts); return; }
    /* Keep the page's own token: the server still decides whether enough time has passed. */
    unlock(failText);
  }

  function requestToken() {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/watch");
    xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.timeout = 15000;
    xhr.onload = function () {
      var reply = null;
      if (xhr.status === 200) {
        try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = null; }
      }
      if (reply && reply.token) {
        tokenField.value = reply.token;
        countDown(Number(reply.unlock_in) || 0);
      } else {
        retry();
      }
    };
    xhr.onerror = retry;
    xhr.ontimeout = retry;
    xhr.send("video=" + encodeURIComponent(form.getAttribute("data-video") || "") +
             "&lang=" + encodeURIComponent(langField ? langField.value : ""));
  }

  function start() {
    if (started) { return; }
    started = true;
    requestToken();
  }

  var preset = form.getAttribute("data-unlock-in");
  button.disabled = true;
  if (preset !== null) {
    countDown(Number(preset) || 0);
  } else if (video) {
    video.addEventListener("playing", start);
    /* A phone that cannot decode the video must not be locked out. */
    video.addEventListener("error", start);
    if (video.error || (!video.paused && video.readyState > 2)) { start(); }
  } else {
    start();
  }
}());
