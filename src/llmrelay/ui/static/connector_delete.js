// Delete with confirmation: a <dialog> (focus moves into it, Escape cancels), then DELETE through
// the JSON API. A refusal (a preconfigured connector) is shown in the dialog with its reason.
(function () {
  "use strict";

  var open = document.getElementById("delete-connector");
  var dialog = document.getElementById("delete-dialog");
  if (!open || !dialog) {
    return;
  }
  var confirm = document.getElementById("delete-confirm");
  var cancel = document.getElementById("delete-cancel");
  var error = document.getElementById("delete-error");

  open.addEventListener("click", function () {
    error.hidden = true;
    dialog.showModal();
    cancel.focus();
  });
  cancel.addEventListener("click", function () {
    dialog.close();
  });
  dialog.addEventListener("close", function () {
    open.focus();
  });
  confirm.addEventListener("click", function () {
    confirm.disabled = true;
    fetch(dialog.dataset.url, {
      method: "DELETE",
      credentials: "same-origin",
      headers: { "kbn-xsrf": "true" },
    }).then(function (response) {
      if (response.ok) {
        window.location.assign("/app/connectors");
        return null;
      }
      return response.json().then(function (data) {
        throw new Error(data.message || "the server answered " + response.status);
      });
    }).catch(function (failure) {
      confirm.disabled = false;
      error.hidden = false;
      error.textContent = "Not deleted: " + failure.message;
    });
  });
})();
