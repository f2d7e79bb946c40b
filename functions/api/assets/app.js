// The page's own script: sign-in, the views (hash routes), uploads, the
// actions on the JSON API, and live progress from the event stream.
// Every data request carries the bearer token in the Authorization header;
// the token lives in this tab's sessionStorage and never goes in a URL.
(function () {
  "use strict";

  var TOKEN_KEY = "receipts.token";
  var body = document.body;
  var cfg = {
    devSignIn: body.dataset.devSignIn === "true",
    autoOcr: body.dataset.autoOcr === "true",
    maxUploadBytes: Number(body.dataset.maxUploadBytes),
    processAllMax: Number(body.dataset.processAllMax)
  };
  var $ = function (id) { return document.getElementById(id); };

  // ---- the token ------------------------------------------------------------
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function authHeaders(extra) {
    var h = extra || {};
    h.Authorization = "Bearer " + token();
    return h;
  }

  // ---- messages -----------------------------------------------------------------
  var toastTimer = null;
  function toast(text, kind) {
    var t = $("toast");
    t.textContent = text;
    t.className = "show " + (kind || "info");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.className = ""; }, 6000);
  }
  // The API's JSON error, `{"error": {"code", "message"}}`, as a sentence.
  function errorText(status, text) {
    try {
      var e = JSON.parse(text).error;
      if (e && e.message) return e.message;
    } catch (ignored) { /* not JSON */ }
    return "request failed (" + status + ")";
  }

  // ---- the JSON API -----------------------------------------------------------
  function api(method, path, bodyValue) {
    var init = { method: method, headers: authHeaders({ Accept: "application/json" }) };
    if (bodyValue instanceof FormData) {
      init.body = bodyValue;
    } else if (bodyValue !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(bodyValue);
    }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (text) {
        if (r.status === 401) { sessionEnded(); }
        if (!r.ok) throw new Error(errorText(r.status, text));
        return text ? JSON.parse(text) : null;
      });
    });
  }

  // ---- sign-in ----------------------------------------------------------------------
  function showSignIn(message) {
    $("app").hidden = true;
    $("nav").hidden = true;
    $("sign-in").hidden = false;
    var err = $("sign-in-error");
    err.hidden = !message;
    err.textContent = message || "";
    var first = $("dev-user") || (hosted && hosted.querySelector("button")) || $("token");
    if (first) first.focus();
  }

  // A 401: the session ended. Only while signed in: an answer that comes
  // back after signing out (a poll or the stream still in flight) must not
  // replace the message the page signed out with.
  function sessionEnded() {
    if (token()) signOut("Your session has ended; sign in again.");
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stream.stop();
    showSignIn(message);
  }

  // Checks a token by asking who it is for, then opens the app.
  function signIn(t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    return fetch("ui/fragments/session", { headers: authHeaders() }).then(function (r) {
      return r.text().then(function (text) {
        if (!r.ok) {
          sessionStorage.removeItem(TOKEN_KEY);
          throw new Error(errorText(r.status, text));
        }
        var holder = document.createElement("div");
        holder.innerHTML = text;
        var s = holder.querySelector("#session");
        $("whoami").textContent = "Signed in as " + s.dataset.user;
        $("nav-ops").hidden = s.dataset.admin !== "true";
        $("sign-in").hidden = true;
        $("app").hidden = false;
        $("nav").hidden = false;
        stream.start();
        route();
        loadStats();
        loadLocale();
      });
    });
  }

  var dev = $("dev-sign-in");
  if (dev) {
    dev.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch("ui/dev-sign-in", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ user: $("dev-user").value })
      }).then(function (r) {
        return r.text().then(function (text) {
          if (!r.ok) throw new Error(errorText(r.status, text));
          return signIn(JSON.parse(text).token);
        });
      }).catch(function (e) { showSignIn(e.message); });
    });
  }
  // ---- hosted sign-in: OAuth 2.0 authorization code with PKCE (Cognito) ----------
  // The browser goes to the hosted page and comes back with a one-time code
  // (not a token) bound to a secret only this tab knows; the code is traded
  // for the ID token with fetch, and removed from the address bar at once.
  var hosted = $("hosted-sign-in");
  var PKCE_KEY = "receipts.pkce";
  function b64url(bytes) {
    var s = "";
    bytes.forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function randomText() { return b64url(crypto.getRandomValues(new Uint8Array(32))); }
  function redirectUri() { return location.origin + location.pathname; }
  if (hosted) {
    hosted.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var verifier = randomText();
      var state = randomText();
      crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (d) {
        sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier: verifier, state: state }));
        var q = new URLSearchParams({
          response_type: "code",
          client_id: hosted.dataset.clientId,
          redirect_uri: redirectUri(),
          scope: "openid",
          state: state,
          code_challenge: b64url(new Uint8Array(d)),
          code_challenge_method: "S256"
        });
        location.assign(hosted.dataset.authorize + "?" + q.toString());
      });
    });
  }
  // Back from the hosted page: `?code=…&state=…` (or `?error=…`).
  function finishHostedSignIn() {
    var q = new URLSearchParams(location.search);
    if (!hosted || (!q.has("code") && !q.has("error"))) return null;
    history.replaceState(null, "", redirectUri() + location.hash);
    var saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
    sessionStorage.removeItem(PKCE_KEY);
    if (q.has("error")) return Promise.reject(new Error(q.get("error_description") || q.get("error")));
    if (!saved || saved.state !== q.get("state")) {
      return Promise.reject(new Error("the sign-in did not start here (state differs)"));
    }
    return fetch(hosted.dataset.token, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: hosted.dataset.clientId,
        code: q.get("code"),
        redirect_uri: redirectUri(),
        code_verifier: saved.verifier
      }).toString()
    }).then(function (r) {
      return r.json().then(function (t) {
        if (!r.ok || !t.id_token) throw new Error(t.error || "the code was refused (" + r.status + ")");
        return signIn(t.id_token);
      });
    });
  }

  $("token-sign-in").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = $("token").value.trim().replace(/^Bearer\s+/i, "");
    $("token").value = "";
    signIn(t).catch(function (e) { showSignIn("That token was refused: " + e.message); });
  });
  $("sign-out").addEventListener("click", function () { signOut(); });

  // ---- htmx: the token on every fragment request; errors as messages -----------
  document.addEventListener("htmx:configRequest", function (ev) {
    ev.detail.headers.Authorization = "Bearer " + token();
  });
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    if (xhr.status === 401) { sessionEnded(); return; }
    toast(errorText(xhr.status, xhr.responseText), "error");
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server cannot be reached.", "error");
  });

  // ---- views -----------------------------------------------------------------------
  var current = { name: "", id: null };
  // Loads fragments into one target, one request at a time, and the latest
  // asked for always last. Fetched here, not with htmx.ajax: htmx drops a
  // request made while it still counts the target busy (its swap and
  // settle run after its promise resolves), and a dropped reload left the
  // list without a receipt that arrived meanwhile. What is loaded is then
  // handed to htmx (htmx.process) for the fragment's own hx- attributes.
  // A reload of the view shown (a live update) keeps open what the person
  // opened (a receipt's raw text): the update must not close it.
  function loader(target) {
    var inflight = false;
    var next = null;
    var shown = null;
    function go(url) {
      if (inflight) { next = url; return; }
      inflight = true;
      fetch(url, { headers: authHeaders({ Accept: "text/html" }) })
        .then(function (r) {
          return r.text().then(function (text) {
            if (r.status === 401) { sessionEnded(); return; }
            if (!r.ok) throw new Error(errorText(r.status, text));
            var el = document.querySelector(target);
            var open = url !== shown ? [] : Array.prototype.map.call(
              el.querySelectorAll("details[id][open]"), function (d) { return d.id; });
            el.innerHTML = text;
            htmx.process(el);
            shown = url;
            open.forEach(function (id) {
              var d = el.querySelector("details#" + CSS.escape(id));
              if (d) d.open = true;
            });
          });
        }, function () { throw new Error("The server cannot be reached."); })
        .catch(function (e) { toast(e.message, "error"); })
        .then(function () {
          inflight = false;
          if (next !== null) { var u = next; next = null; go(u); }
        });
    }
    return go;
  }
  var load = loader("#view");
  var loadStatsInto = loader("#stats");
  function route() {
    if (!token()) return;
    var h = location.hash.replace(/^#\/?/, "");
    var m = /^receipts\/(\d+)$/.exec(h);
    if (m) {
      current = { name: "receipt", id: m[1] };
      load("ui/fragments/receipts/" + m[1]);
    } else if (h === "failed") {
      current = { name: "failed", id: null };
      load("ui/fragments/failed");
    } else if (h === "ops") {
      current = { name: "ops", id: null };
      load("ui/fragments/ops");
    } else {
      current = { name: "list", id: null };
      load("ui/fragments/receipts");
    }
    // A receipt's page and the operators' view need no upload tools.
    $("app").dataset.view = current.name;
  }
  window.addEventListener("hashchange", route);

  function loadStats() { loadStatsInto("ui/fragments/stats"); }

  // A view is reloaded at most every 400 ms, however many events arrive.
  var reloadTimer = null;
  function reloadSoon() {
    if (reloadTimer) return;
    reloadTimer = setTimeout(function () {
      reloadTimer = null;
      if (current.name === "list") {
        // Keep the filter and page the person chose.
        var form = document.querySelector("#view form[hx-get]");
        var status = form ? form.querySelector("select").value : "";
        load("ui/fragments/receipts" + (status ? "?status=" + encodeURIComponent(status) : ""));
      } else {
        route();
      }
      loadStats();
    }, 400);
  }

  // ---- uploads -----------------------------------------------------------------------
  function uploadLine(file) {
    var li = document.createElement("li");
    li.textContent = file.name + ": uploading…";
    $("uploads").appendChild(li);
    return li;
  }

  // A file up to the API's limit goes to POST /receipts; a larger one
  // straight to S3 with a presigned POST (ingest then reads it by itself).
  // "?priority=high" when the box is ticked (`sep` joins it to a query).
  function priority(sep) {
    return $("priority-high").checked ? sep + "priority=high" : "";
  }

  // The user's default locale hint: shown in the upload box, saved when
  // changed, and sent with each upload.
  function loadLocale() {
    api("GET", "users/me/settings").then(function (s) {
      $("locale").value = (s && s.locale) || "";
    }, function () { /* the box stays on "any country" */ });
  }

  $("locale").addEventListener("change", function () {
    var value = $("locale").value;
    api("PUT", "users/me/settings", { locale: value || null }).catch(function (e) {
      var li = uploadLine({ name: "Receipts from" });
      li.className = "error";
      li.textContent = "Could not save the locale: " + e.message;
    });
  });

  function uploadOne(file) {
    var locale = $("locale").value;
    var li = uploadLine(file);
    var done;
    if (file.size <= cfg.maxUploadBytes) {
      var form = new FormData();
      form.append("file", file, file.name);
      if (locale) form.append("locale", locale);
      done = api("POST", "receipts" + priority("?"), form).then(function (r) {
        if (r.duplicate_of) {
          // The same bytes were uploaded before: that receipt, nothing new.
          li.textContent = file.name + ": already uploaded as receipt " + r.duplicate_of;
          return null;
        }
        li.textContent = file.name + ": uploaded as receipt " + r.id +
          (r.priority === "high" ? ", high priority" : "") +
          (cfg.autoOcr ? " (it is read by itself)" : " (pending: press Process all)");
        return r.id;
      });
    } else {
      done = api("POST", "receipts/upload-url" + priority("?"),
        { content_type: file.type || "application/octet-stream", locale: locale || null })
        .then(function (u) {
          var form = new FormData();
          Object.keys(u.fields).forEach(function (k) { form.append(k, u.fields[k]); });
          form.append("file", file, file.name);
          return fetch(u.upload_url, { method: u.method, body: form }).then(function (r) {
            if (!r.ok) throw new Error("the storage refused the file (" + r.status + ")");
            li.textContent = file.name + ": uploaded to storage; it is read by itself";
            return null; // the receipt is made by the S3 event: no id yet
          });
        });
    }
    return done.then(function (id) { li.className = "ok"; return id; }, function (e) {
      li.className = "error";
      li.textContent = file.name + ": " + e.message;
      return null;
    });
  }

  function uploadAll(files) {
    var list = Array.prototype.slice.call(files);
    if (!list.length) return;
    var after = stream.lastId;
    var ids = [];
    // Two at a time: quick, and kind to a small API.
    var next = 0;
    function worker() {
      if (next >= list.length) return Promise.resolve();
      var f = list[next++];
      return uploadOne(f).then(function (id) {
        if (id !== null) ids.push(id);
        return worker();
      });
    }
    Promise.all([worker(), worker()]).then(function () {
      toast(list.length + " file" + (list.length === 1 ? "" : "s") + " sent.");
      // Read by themselves: the bar follows them as it does Process all.
      if (cfg.autoOcr && ids.length) startBatch(after, ids);
      reloadSoon();
    });
  }

  var zone = $("dropzone");
  $("files").addEventListener("change", function (ev) {
    uploadAll(ev.target.files);
    ev.target.value = "";
  });
  ["dragenter", "dragover"].forEach(function (n) {
    zone.addEventListener(n, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (n) {
    zone.addEventListener(n, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    uploadAll(ev.dataTransfer.files);
  });

  // ---- progress of a batch (Process all, Retry all failed) ---------------------------
  var batch = null; // { ids: Set, done: Set, failed: Set, after: event id }
  var seen = [];    // recent events, for a batch whose answer comes after them

  function showProgress() {
    if (!batch) return;
    var total = batch.ids.size;
    var done = batch.done.size + batch.failed.size;
    $("progress").hidden = false;
    $("progress-bar").max = Math.max(total, 1);
    $("progress-bar").value = done;
    var text = done + " of " + total + " done";
    if (batch.failed.size) text += " (" + batch.failed.size + " failed)";
    if (total === 0) text = "Nothing to read.";
    $("progress-text").textContent = text;
  }

  function countInBatch(e) {
    if (!batch || e.id <= batch.after || !batch.ids.has(e.receipt_id)) return;
    if (e.status === "completed") { batch.done.add(e.receipt_id); batch.failed.delete(e.receipt_id); }
    if (e.status === "failed") { batch.failed.add(e.receipt_id); batch.done.delete(e.receipt_id); }
  }

  function startBatch(after, ids) {
    batch = { ids: new Set(ids), done: new Set(), failed: new Set(), after: after };
    seen.forEach(countInBatch);
    showProgress();
  }

  function runBatch(button, path, what) {
    button.disabled = true;
    var after = stream.lastId;
    return api("POST", path).then(function (r) {
      startBatch(after, r.receipt_ids);
      toast((r.receipt_ids.length ? r.receipt_ids.length : "No") + " receipt" +
        (r.receipt_ids.length === 1 ? "" : "s") + " " + what + ".");
      reloadSoon();
    }).catch(function (e) { toast(e.message, "error"); })
      .then(function () { button.disabled = false; });
  }

  $("process-all").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var limit = Number($("process-limit").value) || cfg.processAllMax;
    runBatch(ev.submitter || ev.target.querySelector("button"),
      "receipts/ocr/process-all?limit=" + encodeURIComponent(limit) + priority("&"), "queued");
  });

  // Buttons inside fragments.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b) return;
    var action = b.dataset.action;
    if (action === "retry-failed") {
      runBatch(b, "receipts/ocr/retry-failed?limit=" + cfg.processAllMax, "queued again");
    } else if (action === "retry") {
      b.disabled = true;
      var force = b.dataset.force === "true" ? "?force=true" : "";
      api("POST", "receipts/" + b.dataset.id + "/ocr/retry" + force).then(function () {
        toast("Receipt " + b.dataset.id + " queued again.");
        reloadSoon();
      }).catch(function (e) { b.disabled = false; toast(e.message, "error"); });
    } else if (action === "cancel") {
      b.disabled = true;
      api("POST", "receipts/" + b.dataset.id + "/ocr/cancel").then(function () {
        toast("Receipt " + b.dataset.id + " cancelled: it is pending again.");
        reloadSoon();
      }).catch(function (e) { b.disabled = false; toast(e.message, "error"); });
    } else if (action === "redrive") {
      b.disabled = true;
      api("POST", "receipts/ocr/redrive").then(function (r) {
        toast(r.requeued + " receipts re-queued from the dead-letter queue.");
        reloadSoon();
      }).catch(function (e) { b.disabled = false; toast(e.message, "error"); });
    }
  });

  // ---- live updates: GET /receipts/events, read with fetch ---------------------------
  // (EventSource cannot send the Authorization header.)
  var stream = {
    lastId: 0,
    ctrl: null,
    wanted: false,
    retryMs: 1000,
    start: function () {
      this.wanted = true;
      if (!this.ctrl) this.connect();
    },
    stop: function () {
      this.wanted = false;
      if (this.ctrl) this.ctrl.abort();
      this.ctrl = null;
      this.lastId = 0;
      setStreamState("closed");
    },
    connect: function () {
      var self = this;
      var ctrl = new AbortController();
      self.ctrl = ctrl;
      var headers = authHeaders({ Accept: "text/event-stream" });
      if (self.lastId > 0) headers["Last-Event-ID"] = String(self.lastId);
      fetch("receipts/events", { headers: headers, signal: ctrl.signal, cache: "no-store" })
        .then(function (r) {
          if (r.status === 401) { sessionEnded(); return; }
          if (!r.ok || !r.body) throw new Error("stream answered " + r.status);
          setStreamState("open");
          return self.read(r.body.getReader());
        })
        .catch(function () { /* reconnects below */ })
        .then(function () {
          if (self.ctrl !== ctrl) return;
          self.ctrl = null;
          setStreamState("reconnecting");
          if (self.wanted) setTimeout(function () { if (self.wanted && !self.ctrl) self.connect(); }, self.retryMs);
        });
    },
    read: function (reader) {
      var self = this;
      var decoder = new TextDecoder();
      var buf = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
          var i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            self.frame(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          return pump();
        });
      }
      return pump();
    },
    // One SSE frame: `id:` moves the cursor (the first frame has only an id
    // and `retry:`), `data:` is one receipt event.
    frame: function (block) {
      var data = [];
      var id = null;
      block.split("\n").forEach(function (line) {
        if (!line || line.charAt(0) === ":") return;
        var c = line.indexOf(":");
        var name = c < 0 ? line : line.slice(0, c);
        var value = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
        if (name === "id") id = value;
        else if (name === "data") data.push(value);
        else if (name === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
      }, this);
      if (id !== null && /^\d+$/.test(id)) this.lastId = Number(id);
      if (data.length) onEvent(JSON.parse(data.join("\n")));
    }
  };

  function setStreamState(state) {
    body.dataset.stream = state;
    $("stream-state").textContent = "live updates: " + (state === "open" ? "on" : state);
  }

  function onEvent(e) {
    seen.push(e);
    if (seen.length > 2000) seen.splice(0, seen.length - 2000);
    // Every badge of this receipt on the page shows its new status.
    document.querySelectorAll('[data-status-of="' + e.receipt_id + '"]').forEach(function (b) {
      b.textContent = e.status;
      b.className = "badge badge-" + e.status;
    });
    countInBatch(e);
    showProgress();
    var finished = e.status === "completed" || e.status === "failed";
    var shown = current.name === "receipt" ? String(e.receipt_id) === current.id
      : document.querySelector('[data-receipt-id="' + e.receipt_id + '"]') !== null;
    if (e.type === "receipt.created" || e.type === "receipt.deleted" || (finished && shown)) {
      reloadSoon();
    }
  }

  // ---- start ---------------------------------------------------------------------------------
  var returning = finishHostedSignIn();
  if (returning) {
    returning.catch(function (e) { showSignIn("Sign-in failed: " + e.message); });
  } else if (token()) {
    signIn(token()).catch(function () { showSignIn("Your session has ended; sign in again."); });
  } else {
    showSignIn();
  }

  // What the page's other scripts (delete.js) use.
  window.receiptsPage = { api: api, toast: toast, signOut: signOut, loadStats: loadStats };
})();
