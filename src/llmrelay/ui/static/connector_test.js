// The test panel: runs the connector through POST .../_execute with the edited JSON body.
// Plain: shows the provider's answer (or the error with its service_message). Streamed: reads
// the text/event-stream body as it arrives and appends each choices[0].delta.content.
(function () {
  "use strict";

  var panel = document.getElementById("test-panel");
  if (!panel) {
    return;
  }
  var bodyInput = document.getElementById("test-body");
  var bodyError = document.getElementById("test-body-error");
  var stream = document.getElementById("test-stream");
  var run = document.getElementById("test-run");
  var status = document.getElementById("test-status");
  var result = document.getElementById("test-result");
  var answer = document.getElementById("test-answer");
  var raw = document.getElementById("test-response");
  var errorBox = document.getElementById("test-error");
  var templates = JSON.parse(panel.dataset.params);

  function fill(template, body) {
    if (template === "$body") {
      return body;
    }
    if (Array.isArray(template)) {
      return template.map(function (item) { return fill(item, body); });
    }
    if (template && typeof template === "object") {
      var out = {};
      Object.keys(template).forEach(function (key) { out[key] = fill(template[key], body); });
      return out;
    }
    return template;
  }

  function checkBody() {
    try {
      JSON.parse(bodyInput.value);
      bodyError.textContent = "";
      bodyInput.removeAttribute("aria-invalid");
      return true;
    } catch (error) {
      bodyError.textContent = "The body is not valid JSON: " + error.message;
      bodyInput.setAttribute("aria-invalid", "true");
      return false;
    }
  }

  function fail(data, fallback) {
    errorBox.hidden = false;
    errorBox.textContent = "";
    var title = document.createElement("strong");
    title.textContent = (data && data.message) || fallback;
    errorBox.appendChild(title);
    if (data && data.service_message) {
      var detail = document.createElement("p");
      detail.className = "service-message";
      detail.textContent = "Provider: " + data.service_message;
      errorBox.appendChild(detail);
    }
    status.textContent = "Failed.";
  }

  function contentOf(data) {
    var choice = data && data.choices && data.choices[0];
    return choice && choice.message && typeof choice.message.content === "string" ? choice.message.content : null;
  }

  function plain(response) {
    return response.json().then(function (data) {
      if (!response.ok || data.status === "error") {
        fail(data, "The server answered " + response.status);
        return;
      }
      var text = contentOf(data.data);
      answer.textContent = text === null ? "(no message content)" : text;
      raw.textContent = JSON.stringify(data, null, 2);
      result.hidden = false;
      status.textContent = "Done.";
    });
  }

  // Server-Sent Events: events end with a blank line; "data:" lines carry JSON or [DONE].
  function streamed(response) {
    var type = response.headers.get("content-type") || "";
    if (!response.ok || type.indexOf("text/event-stream") < 0) {
      return plain(response);
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var events = [];
    answer.textContent = "";
    result.hidden = false;
    status.textContent = "Streaming…";

    function handle(block) {
      block.split(/\r?\n/).forEach(function (line) {
        if (line.indexOf("data:") !== 0) {
          return;
        }
        var data = line.slice(5).trim();
        if (!data || data === "[DONE]") {
          return;
        }
        events.push(data);
        try {
          var chunk = JSON.parse(data);
          var delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && typeof delta.content === "string") {
            answer.textContent += delta.content;
          }
          if (chunk.error) {
            fail({ message: "The provider stopped the stream", service_message: chunk.error.message || JSON.stringify(chunk.error) });
          }
        } catch (error) {
          // not JSON: keep it in the raw response only
        }
      });
    }

    function pump() {
      return reader.read().then(function (step) {
        if (step.done) {
          buffer += decoder.decode();
          if (buffer.trim()) {
            handle(buffer);
          }
          raw.textContent = events.join("\n");
          if (errorBox.hidden) {
            status.textContent = "Done (" + events.length + " events).";
          }
          panel.dataset.streamed = String(events.length);
          return;
        }
        buffer += decoder.decode(step.value, { stream: true });
        var parts = buffer.split(/\r?\n\r?\n/);
        buffer = parts.pop();
        parts.forEach(handle);
        return pump();
      });
    }
    return pump();
  }

  bodyInput.addEventListener("input", checkBody);
  run.addEventListener("click", function () {
    if (!checkBody()) {
      bodyInput.focus();
      return;
    }
    var streaming = stream.checked;
    var text = bodyInput.value;
    if (streaming && templates.stream_body) {
      text = JSON.stringify(Object.assign(JSON.parse(text), templates.stream_body));
    }
    var params = fill(templates[streaming ? "stream" : "plain"], text);
    errorBox.hidden = true;
    result.hidden = true;
    run.disabled = true;
    status.textContent = "Running…";
    fetch(panel.dataset.execute, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "kbn-xsrf": "true" },
      body: JSON.stringify({ params: params }),
    }).then(function (response) {
      return streaming ? streamed(response) : plain(response);
    }).catch(function (error) {
      fail(null, "The request failed: " + error.message);
    }).then(function () {
      run.disabled = false;
      panel.dataset.runs = String(Number(panel.dataset.runs || 0) + 1);
    });
  });
  panel.dataset.ready = "true";
})();
