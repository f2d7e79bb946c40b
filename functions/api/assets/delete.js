// Deleting, on the page: a receipt (its Delete button) and everything of the
// person (Delete all my data). Each asks first in a dialog of the page; Keep
// (or Escape) changes nothing.
(function () {
  "use strict";
  var page = window.receiptsPage;
  var $ = function (id) { return document.getElementById(id); };

  function confirmThen(text, then) {
    var dialog = $("confirm");
    $("confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.addEventListener("close", function () {
      if (dialog.returnValue === "ok") then();
    }, { once: true });
    dialog.showModal();
  }

  function deleteReceipt(b) {
    var id = b.dataset.id;
    confirmThen("Delete receipt " + id + "? Its image and everything read from it go too.",
      function () {
        b.disabled = true;
        page.api("DELETE", "receipts/" + id).then(function () {
          page.toast("Receipt " + id + " deleted.");
          location.hash = "#/";
          page.loadStats();
        }).catch(function (e) { b.disabled = false; page.toast(e.message, "error"); });
      });
  }

  // DELETE /users/me starts an erasure; its progress is followed until done.
  function eraseMe(b) {
    var line = $("erase-progress");
    function fail(e) {
      b.disabled = false;
      line.hidden = true;
      page.toast(e.message, "error");
    }
    function follow(e) {
      line.textContent = "Deleting… " + e.receipts_deleted + " receipts so far.";
      if (e.state === "done") {
        b.disabled = false;
        line.hidden = true;
        page.signOut("All your data was deleted (" + e.receipts_deleted + " receipts).");
        return;
      }
      setTimeout(function () { page.api("GET", "erasures/" + e.id).then(follow, fail); }, 2000);
    }
    confirmThen("Delete all your data: every receipt and image, your webhooks and settings? " +
      "This cannot be undone.", function () {
        b.disabled = true;
        line.hidden = false;
        line.textContent = "Deleting…";
        page.api("DELETE", "users/me").then(follow, fail);
      });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b) return;
    if (b.dataset.action === "delete") deleteReceipt(b);
    else if (b.dataset.action === "erase-me") eraseMe(b);
  });
})();
