// The create/edit form: shows the fields of the chosen variant (provider), checks each rule as
// the user types, encodes PEM texts as base64, and saves through the JSON API. The server checks
// everything again; its 400 message is shown above the form and next to the field it names.
(function () {
  "use strict";

  var form = document.getElementById("connector-form");
  if (!form) {
    return;
  }
  var variantField = form.dataset.variantField;
  var connectorId = form.dataset.connectorId || null;
  var formError = document.getElementById("form-error");
  var fields = Array.prototype.slice.call(form.querySelectorAll(".field"));
  var touched = {};
  var HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

  function list(value) {
    return value ? value.split("|") : [];
  }

  function json(value) {
    try {
      return JSON.parse(value || "{}");
    } catch (error) {
      return {};
    }
  }

  function variant() {
    var checked = form.querySelector("input[name=variant]:checked");
    return checked ? checked.value : "";
  }

  function shown(field) {
    var variants = list(field.dataset.variants);
    return variants.length === 0 || variants.indexOf(variant()) >= 0;
  }

  function input(field) {
    return field.querySelector("#field-" + field.dataset.field);
  }

  function value(field) {
    var element = input(field);
    return element ? element.value.trim() : "";
  }

  function byName(name) {
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].dataset.field === name) {
        return fields[i];
      }
    }
    return null;
  }

  function headerRows() {
    return Array.prototype.slice.call(form.querySelectorAll(".header-row"));
  }

  function validUrl(text) {
    var url;
    try {
      url = new URL(text);
    } catch (error) {
      return "URL Error: Invalid URL";
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return "URL Error: Invalid protocol";
    }
    if (!url.hostname) {
      return "URL Error: URL must contain hostname";
    }
    return "";
  }

  function pemProblem(text, labels, label) {
    var found = labels.some(function (name) { return text.indexOf("-----BEGIN " + name + "-----") >= 0; });
    if (found) {
      return "";
    }
    var wanted = labels.map(function (name) { return "\"-----BEGIN " + name + "-----\""; }).join(" or ");
    return label + " must be PEM text beginning with " + wanted + ".";
  }

  function labelOf(field) {
    var label = field.querySelector("label, legend");
    return (label ? label.textContent : field.dataset.field).replace(/\s*\(optional\)\s*$/, "").trim();
  }

  // The rule of one field, as the server has it; "" when it holds.
  function problem(field) {
    var kind = field.dataset.kind;
    var text = value(field);
    var label = labelOf(field);
    if (kind === "headers") {
      var seen = {};
      var rows = headerRows();
      for (var i = 0; i < rows.length; i++) {
        var key = rows[i].querySelector(".header-key").value.trim();
        var val = rows[i].querySelector(".header-value").value;
        if (!key && !val) {
          continue;
        }
        if (!HEADER_NAME.test(key)) {
          return "Header name “" + key + "” is not a valid HTTP header name.";
        }
        if (/[\r\n\0]/.test(val)) {
          return "Header " + key + " has a value with a line break.";
        }
        if (seen[key.toLowerCase()]) {
          return "Header " + key + " is given twice.";
        }
        seen[key.toLowerCase()] = true;
      }
      return "";
    }
    var required = field.dataset.requiredFor === "*" || list(field.dataset.requiredFor).indexOf(variant()) >= 0;
    if (connectorId && field.dataset.section === "secrets") {
      required = false; // an edit that gives no secret keeps the stored ones
    }
    var unless = list(field.dataset.requiredUnless).some(function (other) {
      var otherField = byName(other);
      return otherField && shown(otherField) && value(otherField);
    });
    if (!text) {
      return required && !unless ? label + " is required." : "";
    }
    if (kind === "url") {
      return validUrl(text);
    }
    if (kind === "number" && isNaN(Number(text))) {
      return label + " must be a number.";
    }
    if (kind === "pem") {
      var pem = pemProblem(text, list(field.dataset.pemLabels), label);
      if (pem) {
        return pem;
      }
    }
    var partner = field.dataset.givenWith ? byName(field.dataset.givenWith) : null;
    if (partner && !value(partner)) {
      return label + " needs " + labelOf(partner) + " too.";
    }
    return "";
  }

  function show(field, message) {
    var error = field.querySelector(".field-error");
    var element = input(field);
    error.textContent = message;
    if (element) {
      if (message) {
        element.setAttribute("aria-invalid", "true");
      } else {
        element.removeAttribute("aria-invalid");
      }
    }
  }

  function check(onlyTouched) {
    var first = null;
    fields.forEach(function (field) {
      if (!shown(field)) {
        show(field, "");
        return;
      }
      var message = problem(field);
      if (onlyTouched && !touched[field.dataset.field]) {
        message = "";
      }
      show(field, message);
      if (message && !first) {
        first = field;
      }
    });
    return first;
  }

  function applyVariant(previous) {
    var now = variant();
    fields.forEach(function (field) {
      field.hidden = !shown(field);
      var defaults = json(field.dataset.defaults);
      var element = input(field);
      if (element && element.tagName === "INPUT" && !connectorId) {
        // keep what the user typed; swap a default for the new variant's default
        if (!element.value || element.value === (defaults[previous] || "")) {
          element.value = defaults[now] || "";
        }
        element.placeholder = json(field.dataset.placeholders)[now] || "";
      }
      var hint = field.querySelector(".hint");
      if (hint && !connectorId) {
        hint.textContent = json(field.dataset.hints)[now] || "";
      }
    });
    check(true);
  }

  function addHeader(key, val) {
    var row = document.createElement("div");
    row.className = "header-row";
    row.innerHTML = '<label>Name <input class="header-key" autocomplete="off"></label>' +
      '<label>Value <input class="header-value" autocomplete="off"></label>' +
      '<button type="button" class="remove-header">Remove</button>';
    row.querySelector(".header-key").value = key || "";
    row.querySelector(".header-value").value = val || "";
    document.getElementById("header-rows").appendChild(row);
    return row;
  }

  function base64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary);
  }

  function body() {
    var config = {};
    var secrets = {};
    config[variantField] = variant();
    fields.forEach(function (field) {
      if (!shown(field) || field.dataset.section === "name") {
        return;
      }
      var name = field.dataset.field;
      if (field.dataset.kind === "headers") {
        var headers = {};
        var any = false;
        headerRows().forEach(function (row) {
          var key = row.querySelector(".header-key").value.trim();
          if (key) {
            headers[key] = row.querySelector(".header-value").value;
            any = true;
          }
        });
        if (any) {
          config[name] = headers;
        }
        return;
      }
      var text = value(field);
      if (!text) {
        return;
      }
      var target = field.dataset.section === "secrets" ? secrets : config;
      if (field.dataset.kind === "pem") {
        target[name] = base64(input(field).value);
      } else if (field.dataset.kind === "number") {
        target[name] = Number(text);
      } else {
        target[name] = text;
      }
    });
    var out = { name: document.getElementById("field-name").value.trim(), config: config, secrets: secrets };
    if (!connectorId) {
      out.connector_type_id = form.dataset.typeId;
    }
    return out;
  }

  function serverError(message) {
    formError.hidden = false;
    formError.textContent = message;
    // the API's messages name the field: show the message next to it too
    fields.forEach(function (field) {
      var named = list(field.dataset.messageKeys).some(function (key) {
        return message.indexOf(key) >= 0;
      });
      if (named && shown(field)) {
        show(field, message);
      }
    });
    formError.focus();
  }

  form.addEventListener("input", function (event) {
    var field = event.target.closest(".field");
    if (field) {
      touched[field.dataset.field] = true;
    }
    check(true);
  });
  form.addEventListener("change", function (event) {
    if (event.target.name === "variant") {
      applyVariant(form.dataset.previous || "");
      form.dataset.previous = variant();
      return;
    }
    if (event.target.classList.contains("pem-file") && event.target.files.length) {
      var target = document.getElementById(event.target.dataset.target);
      event.target.files[0].text().then(function (text) {
        target.value = text;
        touched[target.id.replace(/^field-/, "")] = true;
        check(true);
      });
    }
  });
  form.addEventListener("click", function (event) {
    if (event.target.id === "add-header") {
      addHeader("", "").querySelector(".header-key").focus();
    } else if (event.target.classList.contains("remove-header")) {
      event.target.closest(".header-row").remove();
      document.getElementById("add-header").focus();
      check(true);
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    fields.forEach(function (field) { touched[field.dataset.field] = true; });
    var first = check(false);
    if (first) {
      formError.hidden = false;
      formError.textContent = "Correct the marked fields.";
      var element = input(first) || first.querySelector("input");
      if (element) {
        element.focus();
      }
      return;
    }
    formError.hidden = true;
    var save = event.submitter || document.getElementById("save");
    var then = save.dataset.then === "test" ? "#test-body" : ""; // the browser focuses it
    save.disabled = true;
    // an edit goes to llmrelay's own update, which keeps the stored secrets when none is given
    var url = connectorId
      ? "/internal/actions/connector/" + encodeURIComponent(connectorId)
      : "/api/actions/connector";
    fetch(url, {
      method: connectorId ? "PUT" : "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "kbn-xsrf": "true" },
      body: JSON.stringify(body()),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error(data.message || "the server answered " + response.status);
        }
        window.location.assign("/app/connectors/" + encodeURIComponent(data.id) + then);
      });
    }).catch(function (error) {
      save.disabled = false;
      serverError(error.message);
    });
  });

  formError.tabIndex = -1;
  form.dataset.previous = variant();
  applyVariant(variant());
  form.dataset.ready = "true";
})();
